import { Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CookieService } from '../cookies/cookie.service';
import { isApiKeyToken } from './api-key-format';

/** RFC 6750 §2.1: `Bearer` and a b64token. */
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/** Where the credential came from: it decides `authMethod` and whether CSRF applies. */
export type CredentialSource = 'header' | 'cookie';

/**
 * The one credential a request presents. An Authorization header that is not a well-formed
 * Bearer token is `unreadable`: it still counts as a credential (the 401 says
 * `invalid_token`), and the access cookie is not consulted behind it.
 */
export type Credential =
  | { readonly kind: 'jwt'; readonly source: CredentialSource; readonly token: string }
  | { readonly kind: 'api_key'; readonly source: 'header'; readonly token: string }
  | { readonly kind: 'unreadable'; readonly source: 'header'; readonly token?: undefined };

const READ = Symbol('keyward.credential');
type WithCredential = FastifyRequest & { [READ]?: Credential | null };

/**
 * "Authorization wins, else the access cookie", decided here only: the guard's fast path,
 * both Passport strategies and the 401's flavour all ask this reader. Never from the query
 * string or the body. Read once per request (the guard and the strategies ask in turn).
 */
@Injectable()
export class CredentialReader {
  constructor(private readonly cookies: CookieService) {}

  read(request: FastifyRequest): Credential | undefined {
    const memo = request as WithCredential;
    let credential = memo[READ];
    if (credential === undefined) {
      credential = this.readUncached(request) ?? null;
      memo[READ] = credential;
    }
    return credential ?? undefined;
  }

  private readUncached(request: FastifyRequest): Credential | undefined {
    const header = request.headers.authorization;
    if (header === undefined) {
      const token = this.cookies.read(request, 'access');
      return token === undefined ? undefined : { kind: 'jwt', source: 'cookie', token };
    }
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    if (!match) return { kind: 'unreadable', source: 'header' };
    const token = match[1];
    return isApiKeyToken(token)
      ? { kind: 'api_key', source: 'header', token }
      : { kind: 'jwt', source: 'header', token };
  }
}
