import { timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import { CsrfService } from '../cookies/csrf.service';
import { ApiKeysService } from './api-keys.service';
import { type Credential, CredentialReader } from './credential-reader';
import { PassportAuthenticator } from './passport-authenticator';
import type { Principal } from './principal';
import { RevocationService } from './revocation.service';
import { assertRouteAccess } from './route-access';
import type { RoutePolicy } from './route-policy';
import { principalAs, VerifiedTokenCache } from './verified-token-cache';

const QUERY_TOKEN = /[?&](access_token|token|api_key)=/i;

type AuthenticatedRequest = FastifyRequest & { user?: Principal };

/**
 * The access decision for one request and one route policy: credential → principal (set on
 * `request.user`), CSRF for cookie sessions, then `@Roles()` / `@RequireScopes()`. Every
 * refusal is a thrown DomainError. The global guard (AuthenticationGuard) asks it with the
 * policy its decorators give; a route registered on Fastify outside Nest's router
 * (`src/chat/chat-completions.route.ts`) asks it with its own policy object, so both
 * answer alike (docs/runtime.md "Request pipeline"). It orchestrates; each rule lives in its
 * own collaborator (CredentialReader, PassportAuthenticator, CsrfService, assertRouteAccess).
 *
 * Hot path (issue 7): a Keyward access token already verified by JwtStrategy is taken from
 * the VerifiedTokenCache, with the revocation check done here on every request; an API key
 * goes straight to ApiKeysService (its own cache). Both are exactly what the strategies
 * would compute, without passport's per-request closures and strategy lookups. Anything
 * not served that way (first sight of a token, a miss, a refusal) takes the full passport
 * path, so every refusal keeps one code path and one answer.
 */
@Injectable()
export class RequestAuthorizer {
  private readonly metricsToken?: Buffer;

  constructor(
    private readonly credentials: CredentialReader,
    private readonly csrf: CsrfService,
    private readonly verified: VerifiedTokenCache,
    private readonly revocation: RevocationService,
    private readonly apiKeys: ApiKeysService,
    private readonly passport: PassportAuthenticator,
    config: ConfigService<KeywardConfig, true>,
  ) {
    const token = config.get('app', { infer: true }).metricsToken;
    this.metricsToken = token ? Buffer.from(`Bearer ${token}`) : undefined;
  }

  /**
   * Resolves to the principal (also put on `request.user`) when the route may run; throws
   * the refusal otherwise. A public route needs nothing, and the metrics token, where the
   * policy accepts it, stands for no principal: both resolve to `undefined`.
   */
  async authorize(
    request: AuthenticatedRequest,
    reply: FastifyReply,
    policy: RoutePolicy,
  ): Promise<Principal | undefined> {
    if (policy.isPublic) return undefined;
    if (QUERY_TOKEN.test(request.url)) {
      // RFC 6750 §2.3 / RFC 9700 §4.3.2: URLs end up in logs and Referer headers.
      throw new DomainError(
        'invalid_token',
        'Tokens are not accepted in the URL; use the Authorization header.',
      );
    }
    if (policy.acceptsMetricsToken && this.isMetricsToken(request)) return undefined;
    const credential = this.credentials.read(request);
    const principal =
      this.cachedPrincipal(credential) ??
      (await this.apiKeyPrincipal(credential, request.ip)) ??
      (await this.passport.authenticate(request, reply));
    request.user = principal;
    // docs/reference.md "Cookies": cookie-authenticated unsafe requests need the CSRF token.
    if (principal.authMethod === 'cookie' && CsrfService.isUnsafe(request.method)) {
      this.csrf.assertValid(request, principal.sessionId ?? '');
    }
    assertRouteAccess(policy, principal);
    return principal;
  }

  private isMetricsToken(request: FastifyRequest): boolean {
    if (!this.metricsToken) return false;
    const given = Buffer.from(request.headers.authorization ?? '');
    return given.length === this.metricsToken.length && timingSafeEqual(given, this.metricsToken);
  }

  /**
   * A Keyward access token JwtStrategy verified before and that has not reached its `exp`.
   * The revocation check runs on every request; a revoked session goes the full way.
   */
  private cachedPrincipal(credential: Credential | undefined): Principal | undefined {
    if (credential?.kind !== 'jwt') return undefined;
    const entry = this.verified.get(credential.token);
    if (!entry || this.revocation.isRevoked(entry.sessionId)) return undefined;
    return principalAs(entry, credential.source === 'cookie' ? 'cookie' : 'jwt');
  }

  /** `Bearer kw_...`: what ApiKeyStrategy would do; a refused key goes the full way. */
  private async apiKeyPrincipal(
    credential: Credential | undefined,
    ip: string,
  ): Promise<Principal | undefined> {
    if (credential?.kind !== 'api_key') return undefined;
    return this.apiKeys.authenticate(credential.token, ip);
  }
}
