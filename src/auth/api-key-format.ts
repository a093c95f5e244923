/** Every API key starts with this: `kw_` + 256 random bits, base64url (43 characters). */
export const API_KEY_PREFIX = 'kw_';

/**
 * Which strategy a bearer token belongs to: the prefix alone decides (a JWT starts with
 * `ey`), so a malformed key is refused as a bad key, never tried as a JWT.
 */
export function isApiKeyToken(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

/** A well-formed key; anything else is refused before any hashing or lookup. */
export const API_KEY_PATTERN = /^kw_[A-Za-z0-9_-]{43}$/;
