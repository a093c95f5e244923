import { z } from 'zod';
import { ROLES, type Role, TEAM_ROLES, type TeamRole } from '../database/schema';
import { boolean, commaList, optionalString } from './schema-helpers';

/** What one IdP group grants: a Keyward role, or a role in a named team. */
export type RoleGrant =
  | { readonly kind: 'role'; readonly role: Role }
  | { readonly kind: 'team'; readonly team: string; readonly role: TeamRole };

/**
 * One `OIDC_ROLE_MAP` value: `admin`, `user` or `team:<name>:<member|team_admin>`. The team
 * name is everything between the first and the last colon, so it may itself hold colons.
 */
export function parseRoleGrant(value: unknown): RoleGrant | undefined {
  if (typeof value !== 'string') return undefined;
  if ((ROLES as readonly string[]).includes(value)) return { kind: 'role', role: value as Role };
  const match = /^team:(.+):([a-z_]+)$/.exec(value);
  if (!match) return undefined;
  const [, team, role] = match;
  if (!(TEAM_ROLES as readonly string[]).includes(role)) return undefined;
  if (team.length > 100 || /\p{Cc}/u.test(team) || team.trim() !== team) return undefined;
  return { kind: 'team', team, role: role as TeamRole };
}

/** The URL of a discovery issuer: https only (the IdP's CA may come from NODE_EXTRA_CA_CERTS). */
function httpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && !url.username && !url.password && !url.hash;
  } catch {
    return false;
  }
}

function absoluteHttpUrl(value: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/**
 * docs/sso.md: OpenID Connect sign-in. Off unless OIDC_ISSUER is set; then OIDC_CLIENT_ID
 * is required, and OIDC_CLIENT_SECRET (or `_FILE`, or the secrets provider) unless the
 * client authenticates with nothing else (`none`, a public client using PKCE alone).
 */
export const oidcConfigSchema = z
  .object({
    OIDC_ISSUER: optionalString(),
    OIDC_CLIENT_ID: optionalString(),
    OIDC_CLIENT_SECRET: optionalString(),
    OIDC_SCOPES: z.string().default('openid profile email'),
    OIDC_REDIRECT_URL: optionalString(),
    OIDC_POST_LOGOUT_REDIRECT_URL: optionalString(),
    OIDC_ROLE_CLAIM: z.string().min(1).default('groups'),
    OIDC_ROLE_MAP: optionalString(),
    OIDC_ONLY: boolean(false),
    OIDC_BREAK_GLASS_USERS: commaList(),
    OIDC_DISPLAY_NAME: z.string().min(1).max(60).default('single sign-on'),
    OIDC_TOKEN_AUTH_METHOD: z
      .enum(['client_secret_basic', 'client_secret_post', 'none'], {
        message: 'must be client_secret_basic, client_secret_post or none',
      })
      .default('client_secret_basic'),
  })
  .transform((env, ctx) => {
    const fail = (path: string, message: string) => {
      ctx.addIssue({ code: 'custom', path: [path], message });
      return z.NEVER;
    };
    if (!env.OIDC_ISSUER) {
      if (env.OIDC_ONLY) return fail('OIDC_ONLY', 'needs OIDC_ISSUER');
      return { enabled: false as const, displayName: env.OIDC_DISPLAY_NAME };
    }
    if (!httpsUrl(env.OIDC_ISSUER)) return fail('OIDC_ISSUER', 'must be an https URL');
    if (!env.OIDC_CLIENT_ID) return fail('OIDC_CLIENT_ID', 'is required with OIDC_ISSUER');
    if (env.OIDC_TOKEN_AUTH_METHOD !== 'none' && !env.OIDC_CLIENT_SECRET) {
      return fail(
        'OIDC_CLIENT_SECRET',
        `(or OIDC_CLIENT_SECRET_FILE) is required with OIDC_TOKEN_AUTH_METHOD=${env.OIDC_TOKEN_AUTH_METHOD}`,
      );
    }
    const scopes = env.OIDC_SCOPES.split(/\s+/).filter(Boolean);
    if (!scopes.includes('openid')) return fail('OIDC_SCOPES', 'must include openid');
    for (const name of ['OIDC_REDIRECT_URL', 'OIDC_POST_LOGOUT_REDIRECT_URL'] as const) {
      const value = env[name];
      if (value !== undefined && !absoluteHttpUrl(value)) {
        return fail(name, 'must be an absolute http(s) URL');
      }
    }
    const roleMap = new Map<string, RoleGrant[]>();
    if (env.OIDC_ROLE_MAP) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(env.OIDC_ROLE_MAP);
      } catch {
        return fail('OIDC_ROLE_MAP', 'is not valid JSON');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        return fail('OIDC_ROLE_MAP', 'must be a JSON object of group → role');
      }
      for (const [group, value] of Object.entries(parsed)) {
        // A group may grant several things: `"ops": ["admin", "team:ops:team_admin"]`.
        const values: unknown[] = Array.isArray(value) ? value : [value];
        const grants = values.map(parseRoleGrant);
        if (values.length === 0 || grants.some((grant) => grant === undefined)) {
          return fail(
            'OIDC_ROLE_MAP',
            `the value for group "${group}" must be admin, user or team:<name>:<member|team_admin>`,
          );
        }
        roleMap.set(group, grants as RoleGrant[]);
      }
    }
    return {
      enabled: true as const,
      issuer: env.OIDC_ISSUER,
      clientId: env.OIDC_CLIENT_ID,
      clientSecret: env.OIDC_CLIENT_SECRET,
      tokenAuthMethod: env.OIDC_TOKEN_AUTH_METHOD,
      scopes,
      redirectUrl: env.OIDC_REDIRECT_URL,
      postLogoutRedirectUrl: env.OIDC_POST_LOGOUT_REDIRECT_URL,
      roleClaim: env.OIDC_ROLE_CLAIM,
      roleMap: roleMap,
      /** Every team the map names: sign-ins manage the user's membership of these only. */
      managedTeams: [
        ...new Set(
          [...roleMap.values()].flatMap((grants) =>
            grants.flatMap((grant) => (grant.kind === 'team' ? [grant.team] : [])),
          ),
        ),
      ],
      oidcOnly: env.OIDC_ONLY,
      /** Usernames (any case) that keep password sign-in under OIDC_ONLY, if they are admins. */
      breakGlassUsers: env.OIDC_BREAK_GLASS_USERS.map((name) => name.toLowerCase()),
      displayName: env.OIDC_DISPLAY_NAME,
    };
  });

export type OidcConfig = z.output<typeof oidcConfigSchema>;
export type EnabledOidcConfig = Extract<OidcConfig, { enabled: true }>;
