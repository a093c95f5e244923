import type { CookieSerializeOptions } from '@fastify/cookie';
import { SESSION_PATH } from '../auth/auth-paths';

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
  /** Which of the session's lifetimes is the cookie's Max-Age (and a sealed value's expiry). */
  readonly lifetime: keyof SessionLifetimes;
}

/** A session's two lifetimes, in seconds from now: the caller states them, the policy picks. */
export interface SessionLifetimes {
  /** The access token's remaining life. */
  readonly access: number;
  /** The refresh token's remaining life (idle or absolute limit, whichever comes first). */
  readonly refresh: number;
}

/**
 * docs/reference.md "Cookies". `__Host-` forces Secure, Path=/ and no Domain (RFC 6265bis
 * §4.1.3.2), so no subdomain can set or shadow the cookie; the refresh cookie travels only to the
 * session routes that use it. SameSite=Strict on all: no cross-site request carries them.
 */
export const COOKIE_POLICY: Readonly<Record<CookieRole, CookiePolicyEntry>> = {
  access: {
    name: 'kw_access',
    prefix: '__Host-',
    path: '/',
    httpOnly: true,
    protection: 'jwt',
    lifetime: 'access',
  },
  refresh: {
    name: 'kw_refresh',
    prefix: '__Secure-',
    path: SESSION_PATH,
    httpOnly: true,
    protection: 'encrypted',
    lifetime: 'refresh',
  },
  // Readable by page script on purpose (public/app.js): it sends the value back in
  // X-CSRF-Token. It lives as long as the session it belongs to.
  csrf: {
    name: 'kw_csrf',
    prefix: '__Host-',
    path: '/',
    httpOnly: false,
    protection: 'csrf',
    lifetime: 'refresh',
  },
};

export function cookieName(role: CookieRole, secure: boolean): string {
  const entry = COOKIE_POLICY[role];
  return secure ? `${entry.prefix}${entry.name}` : entry.name;
}

/** The cookie's Max-Age: the one place it is decided, from the policy entry's lifetime. */
export function cookieMaxAge(role: CookieRole, lifetimes: SessionLifetimes): number {
  return Math.max(0, Math.floor(lifetimes[COOKIE_POLICY[role].lifetime]));
}

export function cookieOptions(
  role: CookieRole,
  secure: boolean,
  lifetimes: SessionLifetimes,
): CookieSerializeOptions {
  const entry = COOKIE_POLICY[role];
  return {
    path: entry.path,
    httpOnly: entry.httpOnly,
    secure,
    sameSite: 'strict',
    maxAge: cookieMaxAge(role, lifetimes),
  };
}
