import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Every security header Keyward sets, in one place: the Content-Security-Policy of each kind
 * of response, HSTS, and helmet's headers (nosniff, X-Frame-Options, Referrer-Policy...).
 * `securityHeaders` is the whole set, computed once at start-up and set on every answer by
 * one hook (http/fastify-hooks.ts) and on the answers the router refuses (http-app.ts).
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

export function helmetOptions(secureCookies: boolean): HelmetOptions {
  return {
    // Set per kind of response (above), not helmet's default policy.
    contentSecurityPolicy: false,
    hsts: secureCookies ? { maxAge: HSTS_MAX_AGE_SECONDS, includeSubDomains: false } : false,
    crossOriginEmbedderPolicy: false,
  };
}

/**
 * The headers helmet's middleware sets with `helmetOptions`, recorded once. None of them
 * depends on the request (no CSP nonces: the CSPs above are fixed strings), so running
 * helmet per request, as @fastify/helmet does (it builds the middleware again on every
 * request), only repeated the same work: about a tenth of a public route's CPU.
 */
export function helmetHeaders(secureCookies: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]): void {
      headers[name] = String(value);
    },
    // helmet removes X-Powered-By, which neither Node nor Fastify sets.
    removeHeader(): void {},
  };
  helmet(helmetOptions(secureCookies))(
    {} as IncomingMessage,
    recorder as unknown as ServerResponse,
    // helmet 8 throws on bad options when the middleware is built; `next` gets no error.
    () => undefined,
  );
  return headers;
}

/**
 * Every answer's security headers: helmet's, HSTS when cookies are secure, and the API CSP
 * (the console's files and `/docs` replace the CSP with their own). Set before anything
 * else runs, so an answer refused early (a form on a JSON route, a malformed URL) is no
 * less protected than any other.
 */
export function securityHeaders(secureCookies: boolean): Readonly<Record<string, string>> {
  return Object.freeze({
    ...helmetHeaders(secureCookies),
    'Content-Security-Policy': API_CSP,
  });
}
