import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequestAuthorizer } from './request-authorizer';
import { RoutePolicies } from './route-policy';

/**
 * The global guard (APP_GUARD): every route needs a valid credential unless it is marked
 * `@Public()`; then CSRF (cookie sessions), `@Roles()` and `@RequireScopes()` apply. It reads
 * the route's policy from those decorators (RoutePolicies) and leaves the decision to
 * RequestAuthorizer, which a route outside Nest's router asks the same way.
 */
@Injectable()
export class AuthenticationGuard implements CanActivate {
  private readonly policies: RoutePolicies;

  constructor(
    reflector: Reflector,
    private readonly authorizer: RequestAuthorizer,
  ) {
    this.policies = new RoutePolicies(reflector);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    await this.authorizer.authorize(
      http.getRequest<FastifyRequest>(),
      http.getResponse<FastifyReply>(),
      this.policies.of(context),
    );
    return true;
  }
}
