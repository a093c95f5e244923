import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import { CookieService } from './cookie.service';

export const CSRF_HEADER = 'x-csrf-token';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function equal(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * OWASP's signed double-submit cookie: the token is `random.HMAC(sessionId.random)`, sent
 * as a script-readable cookie and echoed in X-CSRF-Token. It must equal the cookie and be
 * bound to the request's session, so a token planted from a sibling origin or taken from
 * another session fails. Origin and Sec-Fetch-Site are checked as well (defence in depth).
 * Hand-written because @fastify/csrf-protection keeps its own secret cookie or session and
 * cannot bind tokens to Keyward's session id.
 */
@Injectable()
export class CsrfService {
  private readonly allowedOrigins: ReadonlySet<string>;

  constructor(
    private readonly cookies: CookieService,
    config: ConfigService<KeywardConfig, true>,
  ) {
    this.allowedOrigins = new Set(config.get('app', { infer: true }).corsOrigins);
  }

  static isUnsafe(method: string): boolean {
    return UNSAFE_METHODS.has(method.toUpperCase());
  }

  tokenFor(sessionId: string): string {
    const nonce = randomBytes(18).toString('base64url');
    return `${nonce}.${this.cookies.sealer.hmac('csrf', `${sessionId}.${nonce}`)}`;
  }

  /** Throws 403 unless the request carries this session's CSRF token and a same-origin Origin. */
  assertValid(request: FastifyRequest, sessionId: string): void {
    this.assertSameOrigin(request);
    const header = request.headers[CSRF_HEADER];
    const cookie = this.cookies.read(request, 'csrf');
    if (typeof header !== 'string' || !cookie || !equal(header, cookie)) {
      throw new DomainError(
        'csrf_failed',
        'The X-CSRF-Token header is missing or does not match the CSRF cookie.',
      );
    }
    if (!this.boundTo(header, sessionId)) {
      throw new DomainError('csrf_failed', 'The CSRF token does not belong to this session.');
    }
  }

  private boundTo(token: string, sessionId: string): boolean {
    const [nonce, mac, extra] = token.split('.');
    if (!nonce || !mac || extra !== undefined) return false;
    for (let index = 0; index < this.cookies.sealer.secretCount; index += 1) {
      const expected = this.cookies.sealer.hmac('csrf', `${sessionId}.${nonce}`, index);
      if (expected && equal(expected, mac)) return true;
    }
    return false;
  }

  /**
   * Throws 403 for a cross-site request (`Sec-Fetch-Site: cross-site`, `Origin: null`, or an
   * Origin that is neither ours nor in CORS_ORIGINS). Requests without these headers (not
   * from a browser) pass. Also guards the token endpoint's form posts (a hostile page's
   * auto-submitted form must not count as a failed sign-in of the victim).
   */
  assertSameOrigin(request: FastifyRequest, what = 'use the session cookie'): void {
    if (request.headers['sec-fetch-site'] === 'cross-site') {
      throw new DomainError('csrf_failed', `Cross-site requests cannot ${what}.`);
    }
    const origin = request.headers.origin;
    if (origin === undefined) return;
    const own = `${request.protocol}://${request.host}`;
    if (origin === 'null' || (origin !== own && !this.allowedOrigins.has(origin))) {
      throw new DomainError('csrf_failed', `The request Origin is not allowed to ${what}.`);
    }
  }
}
