import { type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error';
import { CsrfService } from '../cookies/csrf.service';
import type { Role } from '../database/schema';
import { ROLES_KEY, SCOPES_KEY } from './auth.decorators';
import { presentsCredentials } from './credentials';
import type { Principal, Scope } from './principal';
import { IS_PUBLIC_KEY } from './public.decorator';

const QUERY_TOKEN = /[?&](access_token|token|api_key)=/i;

/**
 * The global guard (APP_GUARD): every route needs a valid credential unless it is marked
 * `@Public()`; then `@Roles()` and `@RequireScopes()` are enforced (403). The strategies
 * are this instance's (see PassportNamesModule), set as PassportModule's default.
 */
@Injectable()
export class AuthenticationGuard extends AuthGuard() {
  constructor(
    private readonly reflector: Reflector,
    private readonly csrf: CsrfService,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (QUERY_TOKEN.test(request.url)) {
      // RFC 6750 §2.3 / RFC 9700 §4.3.2: URLs end up in logs and Referer headers.
      throw new DomainError(
        'invalid_token',
        'Tokens are not accepted in the URL; use the Authorization header.',
      );
    }
    await super.canActivate(context);
    const principal = (request as FastifyRequest & { user: Principal }).user;
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

  override handleRequest<T = Principal>(
    error: unknown,
    user: T | false,
    info: unknown,
    context: ExecutionContext,
  ): T {
    if (user) return user;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    // The reason stays in the log (debug); the client gets one generic answer.
    const reasons = (Array.isArray(info) ? info : [info])
      .map((entry) => (entry instanceof Error ? entry.message : undefined))
      .filter(Boolean);
    request.log.debug({ reasons }, 'authentication failed');
    if (error instanceof DomainError) throw error;
    throw presentsCredentials(request)
      ? new DomainError(
          'invalid_token',
          'The access token or API key is invalid, expired or revoked.',
        )
      : new DomainError('unauthenticated', 'Authentication is required.');
  }
}
