import type { ApiKeyScope, Role } from '../database/schema';
import type { PolicyLimits } from '../policy/policy-limits';

/** An API key's own policy (docs/policy.md), carried on its principal: no lookup per call. */
export interface KeyPolicy extends PolicyLimits {
  readonly name: string;
  /** Normalized CIDR ranges the key is accepted from; null: anywhere. */
  readonly allowedCidrs: readonly string[] | null;
}

/** How a request proved who it is. */
export type AuthMethod = 'jwt' | 'cookie' | 'api_key' | 'external';

/**
 * Scopes: `chat`, `usage` and `admin` as in docs/reference.md "Tokens", plus `keys` (managing API
 * keys), which sign-in sessions have and API keys never get: a leaked key cannot mint more keys.
 */
export type Scope = ApiKeyScope | 'keys';

/** The authenticated caller, set on `request.user` by the global guard. */
export interface Principal {
  readonly userId: string;
  readonly username: string;
  readonly roles: readonly Role[];
  readonly scopes: readonly Scope[];
  readonly authMethod: AuthMethod;
  /** Session (`sid`) of a JWT or cookie login. */
  readonly sessionId?: string;
  /** When the user behind a session signed in (`auth_time`, epoch seconds). */
  readonly authTime?: number;
  readonly apiKeyId?: string;
  /** A team key's team: the call belongs to it and the team's limits apply. */
  readonly teamId?: string;
  /** The key's own limits, for a call made with an API key. */
  readonly keyPolicy?: KeyPolicy;
  /** Issuer of an external (JWT_TRUSTED_ISSUERS) token. */
  readonly issuer?: string;
}

/**
 * Whether the principal is a user of Keyward's own users table (password, cookie or API-key
 * sign-in), as opposed to an external issuer's subject (`issuer#sub`, no row): per-user
 * overrides and audit actor ids exist only for the former.
 */
export function isLocalUser(principal: Pick<Principal, 'authMethod'>): boolean {
  return principal.authMethod !== 'external';
}

export function scopesForRoles(roles: readonly Role[]): Scope[] {
  return roles.includes('admin') ? ['chat', 'usage', 'keys', 'admin'] : ['chat', 'usage', 'keys'];
}
