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
 * (numbers, objects, an Entra "groups overage" pointer) grants nothing.
 */
export function claimValues(claims: Record<string, unknown>, claim: string): string[] {
  const value = claims[claim];
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is string => typeof item === 'string');
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
