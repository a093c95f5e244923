import type { SetCookie } from 'cookie';
import { OIDC_PATH, SESSION_PATH } from '../auth/auth-paths';

/** Every cookie Keyward sets, by role. Nothing else in the code names a cookie. */
export type CookieRole = 'access' | 'refresh' | 'csrf' | 'oidc';

interface CookiePolicyEntry {
  /** Name without prefix; `__Host-` / `__Secure-` is added when cookies are secure. */
  readonly name: string;
  readonly prefix: '__Host-' | '__Secure-';
  readonly path: string;
  readonly httpOnly: boolean;
  /** How the value is protected inside the cookie. */
  readonly protection: 'jwt' | 'encrypted' | 'csrf';
  /**
   * Which of the session's lifetimes is the cookie's Max-Age (and a sealed value's expiry),
   * or a fixed number of seconds for a cookie that belongs to no session yet.
   */
  readonly lifetime: keyof SessionLifetimes | { readonly seconds: number };
  /** Strict unless the cookie must come back on a cross-site top-level navigation. */
  readonly sameSite: 'strict' | 'lax';
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
    sameSite: 'strict',
  },
  refresh: {
    name: 'kw_refresh',
    prefix: '__Secure-',
    path: SESSION_PATH,
    httpOnly: true,
    protection: 'encrypted',
    lifetime: 'refresh',
    sameSite: 'strict',
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
    sameSite: 'strict',
  },
  // docs/sso.md: a single sign-on in progress (state, nonce, PKCE verifier, returnTo),
  // encrypted. The IdP sends the browser back with a cross-site top-level GET, on which a
  // Strict cookie would not be sent: Lax is the least that works, and it goes only to the
  // OIDC routes, for ten minutes.
  oidc: {
    name: 'kw_oidc',
    prefix: '__Secure-',
    path: OIDC_PATH,
    httpOnly: true,
    protection: 'encrypted',
    lifetime: { seconds: 600 },
    sameSite: 'lax',
  },
};

export function cookieName(role: CookieRole, secure: boolean): string {
  const entry = COOKIE_POLICY[role];
  return secure ? `${entry.prefix}${entry.name}` : entry.name;
}

/** The cookie's Max-Age: the one place it is decided, from the policy entry's lifetime. */
export function cookieMaxAge(role: CookieRole, lifetimes: SessionLifetimes): number {
  const lifetime = COOKIE_POLICY[role].lifetime;
  const seconds = typeof lifetime === 'string' ? lifetimes[lifetime] : lifetime.seconds;
  return Math.max(0, Math.floor(seconds));
}

/** A `Set-Cookie` line's attributes (the `cookie` library's names). */
export type CookieAttributes = Omit<SetCookie, 'name' | 'value'>;

export function cookieOptions(
  role: CookieRole,
  secure: boolean,
  lifetimes: SessionLifetimes,
): CookieAttributes {
  const entry = COOKIE_POLICY[role];
  return {
    path: entry.path,
    httpOnly: entry.httpOnly,
    secure,
    sameSite: entry.sameSite,
    maxAge: cookieMaxAge(role, lifetimes),
  };
}
