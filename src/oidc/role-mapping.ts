import type { RoleGrant } from '../config/oidc.config';
import type { Role, TeamRole } from '../database/schema';

/** What the IdP's groups grant at this sign-in. */
export interface MappedAccess {
  /** Keyward roles; `user` when no group maps to a role. */
  readonly roles: Role[];
  /** Team memberships, by team name (the stronger role wins when groups disagree). */
  readonly teams: ReadonlyMap<string, TeamRole>;
}

/**
 * The claim's values (`groups`, `roles`...): a list of strings, or one string. Anything else
 * (numbers, objects) grants nothing. A claim the IdP left out for a pointer elsewhere
 * (`isDistributed`) is refused before this is read.
 */
export function claimValues(claims: Record<string, unknown>, claim: string): string[] {
  const value = claims[claim];
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is string => typeof item === 'string');
}

/**
 * OpenID Connect Core §5.6.2: the IdP sent `_claim_names.<claim>` instead of the claim, a
 * pointer to fetch it elsewhere. Entra ID does this for a user in more than 200 groups (the
 * "groups overage"). Keyward does not fetch distributed claims, and the empty list it would
 * read instead would take the user's roles and managed teams away: docs/sso.md "Roles".
 */
export function isDistributed(claims: Record<string, unknown>, claim: string): boolean {
  const names = claims._claim_names;
  return typeof names === 'object' && names !== null && Object.hasOwn(names, claim);
}

/** docs/sso.md "Roles": OIDC_ROLE_MAP applied to the groups of one sign-in. */
export function mapAccess(
  groups: readonly string[],
  roleMap: ReadonlyMap<string, readonly RoleGrant[]>,
): MappedAccess {
  const roles = new Set<Role>();
  const teams = new Map<string, TeamRole>();
  for (const group of groups) {
    for (const grant of roleMap.get(group) ?? []) {
      if (grant.kind === 'role') roles.add(grant.role);
      else if (teams.get(grant.team) !== 'team_admin') teams.set(grant.team, grant.role);
    }
  }
  if (roles.size === 0) roles.add('user');
  // Stable order, so an unchanged mapping compares equal to the stored roles.
  return { roles: [...roles].sort(), teams };
}
