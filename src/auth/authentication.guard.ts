import { timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import passport from 'passport';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import { CookieService } from '../cookies/cookie.service';
import { CsrfService } from '../cookies/csrf.service';
import type { Role } from '../database/schema';
import { METRICS_TOKEN_KEY, ROLES_KEY, SCOPES_KEY } from './auth.decorators';
import { API_KEY_PATTERN, ApiKeysService } from './api-keys.service';
import { bearerToken } from './credentials';
import { PASSPORT_NAMES, type PassportNames } from './passport-names.module';
import type { Principal, Scope } from './principal';
import { IS_PUBLIC_KEY } from './public.decorator';
import { RevocationService } from './revocation.service';
import { VerifiedTokenCache } from './verified-token-cache';

const QUERY_TOKEN = /[?&](access_token|token|api_key)=/i;

type AuthenticatedRequest = FastifyRequest & { user?: Principal };

/** What the decorators say about one route: read once per handler, not per request. */
interface RoutePolicy {
  readonly isPublic: boolean;
  readonly acceptsMetricsToken: boolean;
  readonly roles?: readonly Role[];
  readonly scopes?: readonly Scope[];
}

/**
 * The global guard (APP_GUARD): every route needs a valid credential unless it is marked
 * `@Public()`; then CSRF (cookie sessions), `@Roles()` and `@RequireScopes()` apply.
 *
 * It runs this instance's Passport strategies (API key first, then JWT) through
 * `passport.authenticate`, as @nestjs/passport's AuthGuard does, but by the per-instance
 * names of PassportNamesModule: AuthGuard's mixin fixes strategy names per class, and
 * passport's registry is process-wide.
 *
 * Hot path (issue 7): a Keyward access token already verified by JwtStrategy is taken from
 * the VerifiedTokenCache, with the revocation check done here on every request; an API key
 * goes straight to ApiKeysService (its own cache). Both are exactly what the strategies
 * would compute, without passport's per-request closures and strategy lookups. Anything
 * not served that way (first sight of a token, a miss, a refusal) takes the full passport
 * path, so every refusal keeps one code path and one answer. The route's decorators are
 * read once per handler.
 */
@Injectable()
export class AuthenticationGuard implements CanActivate {
  private readonly strategies: string[];
  private readonly metricsToken?: Buffer;
  private readonly policies = new WeakMap<object, WeakMap<object, RoutePolicy>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly csrf: CsrfService,
    private readonly cookies: CookieService,
    private readonly verified: VerifiedTokenCache,
    private readonly revocation: RevocationService,
    private readonly apiKeys: ApiKeysService,
    @Inject(PASSPORT_NAMES) names: PassportNames,
    config: ConfigService<KeywardConfig, true>,
  ) {
    this.strategies = [names.apiKey, names.jwt];
    const token = config.get('app', { infer: true }).metricsToken;
    this.metricsToken = token ? Buffer.from(`Bearer ${token}`) : undefined;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const policy = this.policyFor(context);
    if (policy.isPublic) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<AuthenticatedRequest>();
    if (QUERY_TOKEN.test(request.url)) {
      // RFC 6750 §2.3 / RFC 9700 §4.3.2: URLs end up in logs and Referer headers.
      throw new DomainError(
        'invalid_token',
        'Tokens are not accepted in the URL; use the Authorization header.',
      );
    }
    if (this.metricsToken && policy.acceptsMetricsToken) {
      const given = Buffer.from(request.headers.authorization ?? '');
      if (given.length === this.metricsToken.length && timingSafeEqual(given, this.metricsToken))
        return true;
    }
    const principal =
      this.cachedPrincipal(request) ??
      (await this.apiKeyPrincipal(request)) ??
      (await this.authenticate(request, http.getResponse<FastifyReply>()));
    request.user = principal;
    // docs/reference.md "Cookies": cookie-authenticated unsafe requests need the CSRF token.
    if (principal.authMethod === 'cookie' && CsrfService.isUnsafe(request.method)) {
      this.csrf.assertValid(request, principal.sessionId ?? '');
    }
    const roles = policy.roles;
    if (roles?.length && !roles.some((role) => principal.roles.includes(role))) {
      throw new DomainError('forbidden', `This route needs the ${roles.join(' or ')} role.`);
    }
    const missing = policy.scopes?.filter((scope) => !principal.scopes.includes(scope)) ?? [];
    if (missing.length) {
      throw new DomainError(
        'insufficient_scope',
        `This credential lacks the ${missing.join(', ')} scope.`,
        {
          headers: {
            'WWW-Authenticate': `Bearer realm="keyward", error="insufficient_scope", scope="${missing.join(' ')}"`,
          },
        },
      );
    }
    return true;
  }

  private policyFor(context: ExecutionContext): RoutePolicy {
    const handler = context.getHandler();
    const controller = context.getClass();
    let byHandler = this.policies.get(controller);
    if (!byHandler) {
      byHandler = new WeakMap();
      this.policies.set(controller, byHandler);
    }
    let policy = byHandler.get(handler);
    if (!policy) {
      const targets = [handler, controller];
      policy = {
        isPublic: this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets) === true,
        acceptsMetricsToken:
          this.reflector.getAllAndOverride<boolean>(METRICS_TOKEN_KEY, targets) === true,
        roles: this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets),
        scopes: this.reflector.getAllAndOverride<Scope[] | undefined>(SCOPES_KEY, targets),
      };
      byHandler.set(handler, policy);
    }
    return policy;
  }

  /**
   * A Keyward access token JwtStrategy verified before and that has not reached its `exp`,
   * read from where JwtStrategy reads it (Authorization wins; else the access cookie).
   * The revocation check runs on every request; a revoked session goes the full way.
   */
  private cachedPrincipal(request: AuthenticatedRequest): Principal | undefined {
    const fromHeader = request.headers.authorization !== undefined;
    const token = fromHeader ? bearerToken(request, 'jwt') : this.cookies.read(request, 'access');
    if (!token) return undefined;
    const entry = this.verified.get(token);
    if (!entry || this.revocation.isRevoked(entry.sessionId)) return undefined;
    return fromHeader ? entry.asBearer : entry.asCookie;
  }

  /** `Bearer kw_...`: what ApiKeyStrategy would do; a refused key goes the full way. */
  private async apiKeyPrincipal(request: AuthenticatedRequest): Promise<Principal | undefined> {
    const key = bearerToken(request, 'api_key');
    if (!key || !API_KEY_PATTERN.test(key)) return undefined;
    return this.apiKeys.authenticate(key);
  }

  private authenticate(request: AuthenticatedRequest, reply: FastifyReply): Promise<Principal> {
    return new Promise((resolve, reject) => {
      const done = (error: unknown, user: Principal | false, info: unknown) => {
        if (user) return resolve(user);
        // The reason stays in the log (debug); the client gets one generic answer.
        const reasons = (Array.isArray(info) ? info : [info])
          .map((entry) => (entry instanceof Error ? entry.message : undefined))
          .filter(Boolean);
        request.log.debug({ reasons }, 'authentication failed');
        if (error instanceof DomainError) return reject(error);
        reject(
          request.headers.authorization !== undefined ||
            this.cookies.read(request, 'access') !== undefined
            ? new DomainError(
                'invalid_token',
                'The access token or API key is invalid, expired or revoked.',
              )
            : new DomainError('unauthenticated', 'Authentication is required.'),
        );
      };
      const middleware = passport.authenticate(this.strategies, { session: false }, done) as (
        req: unknown,
        res: unknown,
        next: (error?: unknown) => void,
      ) => void;
      middleware(request, reply, (error?: unknown) =>
        reject(error instanceof Error ? error : new Error('passport called next() unexpectedly')),
      );
    });
  }
}
