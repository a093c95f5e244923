/**
 * The authentication routes' paths, declared once by the auth module: the controllers mount
 * on them, and what advertises them (RFC 8414 metadata, the OpenAPI password flow, the
 * refresh cookie's Path) imports them instead of spelling them again.
 */
export const AUTH_PATH = '/api/v1/auth';
/** TokenController: `POST token`, `POST revoke` (OAuth2 error format). */
export const TOKEN_PATH = `${AUTH_PATH}/token`;
export const REVOKE_PATH = `${AUTH_PATH}/revoke`;
/** RFC 7662 introspection, for machine clients (TokenController). */
export const INTROSPECT_PATH = `${AUTH_PATH}/introspect`;
/**
 * SessionController. The refresh cookie's Path is this too (cookie-policy.ts), so the
 * refresh token travels only to the routes that use it.
 */
export const SESSION_PATH = `${AUTH_PATH}/session`;

/** OidcController: single sign-on (docs/sso.md); the sign-in cookie's Path too. */
export const OIDC_PATH = `${AUTH_PATH}/oidc`;
