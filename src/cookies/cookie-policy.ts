import type { CookieSerializeOptions } from '@fastify/cookie';

/** Every cookie Keyward sets, by role. Nothing else in the code names a cookie. */
export type CookieRole = 'access' | 'refresh' | 'csrf';

interface CookiePolicyEntry {
  /** Name without prefix; `__Host-` / `__Secure-` is added when cookies are secure. */
  readonly name: string;
  readonly prefix: '__Host-' | '__Secure-';
  readonly path: string;
  readonly httpOnly: boolean;
  /** How the value is protected inside the cookie. */
  readonly protection: 'jwt' | 'encrypted' | 'csrf';
}

/**
 * docs/reference.md "Cookies". `__Host-` forces Secure, Path=/ and no Domain (RFC 6265bis
 * §4.1.3.2), so no subdomain can set or shadow the cookie; the refresh cookie travels only to the
 * session routes that use it. SameSite=Strict on all: no cross-site request carries them.
 */
export const COOKIE_POLICY: Readonly<Record<CookieRole, CookiePolicyEntry>> = {
  access: { name: 'kw_access', prefix: '__Host-', path: '/', httpOnly: true, protection: 'jwt' },
  refresh: {
    name: 'kw_refresh',
    prefix: '__Secure-',
    path: '/api/v1/auth/session',
    httpOnly: true,
    protection: 'encrypted',
  },
  // Readable by page script on purpose: it sends the value back in X-CSRF-Token.
  csrf: { name: 'kw_csrf', prefix: '__Host-', path: '/', httpOnly: false, protection: 'csrf' },
};

export function cookieName(role: CookieRole, secure: boolean): string {
  const entry = COOKIE_POLICY[role];
  return secure ? `${entry.prefix}${entry.name}` : entry.name;
}

export function cookieOptions(
  role: CookieRole,
  secure: boolean,
  maxAgeSeconds: number,
): CookieSerializeOptions {
  const entry = COOKIE_POLICY[role];
  return {
    path: entry.path,
    httpOnly: entry.httpOnly,
    secure,
    sameSite: 'strict',
    maxAge: Math.max(0, Math.floor(maxAgeSeconds)),
  };
}
