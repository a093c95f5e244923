import { timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import passport from 'passport';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import { CsrfService } from '../cookies/csrf.service';
import type { Role } from '../database/schema';
import { METRICS_TOKEN_KEY, ROLES_KEY, SCOPES_KEY } from './auth.decorators';
import { presentsCredentials } from './credentials';
import { PASSPORT_NAMES, type PassportNames } from './passport-names.module';
import type { Principal, Scope } from './principal';
import { IS_PUBLIC_KEY } from './public.decorator';

const QUERY_TOKEN = /[?&](access_token|token|api_key)=/i;

type AuthenticatedRequest = FastifyRequest & { user?: Principal };

/**
 * The global guard (APP_GUARD): every route needs a valid credential unless it is marked
 * `@Public()`; then CSRF (cookie sessions), `@Roles()` and `@RequireScopes()` apply.
 *
 * It runs this instance's Passport strategies (API key first, then JWT) through
 * `passport.authenticate`, as @nestjs/passport's AuthGuard does, but by the per-instance
 * names of PassportNamesModule: AuthGuard's mixin fixes strategy names per class, and
 * passport's registry is process-wide.
 */
@Injectable()
export class AuthenticationGuard implements CanActivate {
  private readonly strategies: string[];
  private readonly metricsToken?: Buffer;

  constructor(
    private readonly reflector: Reflector,
    private readonly csrf: CsrfService,
    @Inject(PASSPORT_NAMES) names: PassportNames,
    config: ConfigService<KeywardConfig, true>,
  ) {
    this.strategies = [names.apiKey, names.jwt];
    const token = config.get('app', { infer: true }).metricsToken;
    this.metricsToken = token ? Buffer.from(`Bearer ${token}`) : undefined;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets)) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<AuthenticatedRequest>();
    if (QUERY_TOKEN.test(request.url)) {
      // RFC 6750 §2.3 / RFC 9700 §4.3.2: URLs end up in logs and Referer headers.
      throw new DomainError(
        'invalid_token',
        'Tokens are not accepted in the URL; use the Authorization header.',
      );
    }
    if (
      this.metricsToken &&
      this.reflector.getAllAndOverride<boolean>(METRICS_TOKEN_KEY, targets)
    ) {
      const given = Buffer.from(request.headers.authorization ?? '');
      if (given.length === this.metricsToken.length && timingSafeEqual(given, this.metricsToken))
        return true;
    }
    const principal = await this.authenticate(request, http.getResponse<FastifyReply>());
    request.user = principal;
    // SPEC "Cookies": a cookie-authenticated unsafe request needs the session's CSRF token.
    if (principal.authMethod === 'cookie' && CsrfService.isUnsafe(request.method)) {
      this.csrf.assertValid(request, principal.sessionId ?? '');
    }
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    if (roles?.length && !roles.some((role) => principal.roles.includes(role))) {
      throw new DomainError('forbidden', `This route needs the ${roles.join(' or ')} role.`);
    }
    const scopes = this.reflector.getAllAndOverride<Scope[] | undefined>(SCOPES_KEY, targets);
    const missing = scopes?.filter((scope) => !principal.scopes.includes(scope)) ?? [];
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
          presentsCredentials(request)
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
