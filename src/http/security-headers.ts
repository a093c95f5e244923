import type { FastifyHelmetOptions } from '@fastify/helmet';

/**
 * Every security header Keyward sets, in one place: the Content-Security-Policy of each kind
 * of response and HSTS. helmet sets the rest (nosniff, no X-Powered-By...) on every answer
 * that reaches its hook; `earlyRefusalHeaders` covers the answers refused before it.
 */

/** The API's answers are data, never a page: nothing may load, frame or submit. */
export const API_CSP =
  "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Swagger UI (`/docs`) needs its own scripts, styles (inline ones too) and images. */
export const DOCS_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * The browser console's pages load only their own script, style and API (no inline code),
 * so a strict policy holds (docs/console.md).
 */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** One year; only when cookies are secure (a plain-http dev setup must not pin HTTPS). */
const HSTS_MAX_AGE_SECONDS = 31_536_000;

export function helmetOptions(secureCookies: boolean): FastifyHelmetOptions {
  return {
    // Set per kind of response (above), not helmet's default policy.
    contentSecurityPolicy: false,
    hsts: secureCookies ? { maxAge: HSTS_MAX_AGE_SECONDS, includeSubDomains: false } : false,
    crossOriginEmbedderPolicy: false,
  };
}

/**
 * What helmet and the API CSP would have set, for answers refused before their hooks run
 * (a form on a JSON route, a malformed URL): refused answers are no less protected.
 */
export function earlyRefusalHeaders(secureCookies: boolean): Record<string, string> {
  return {
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': API_CSP,
    ...(secureCookies ? { 'Strict-Transport-Security': `max-age=${HSTS_MAX_AGE_SECONDS}` } : {}),
  };
}
