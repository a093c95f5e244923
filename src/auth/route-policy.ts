import type { ExecutionContext } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { Role } from '../database/schema';
import { METRICS_TOKEN_KEY, ROLES_KEY, SCOPES_KEY } from './auth.decorators';
import type { Scope } from './principal';
import { IS_PUBLIC_KEY } from './public.decorator';

/** What the decorators say about one route. */
export interface RoutePolicy {
  readonly isPublic: boolean;
  readonly acceptsMetricsToken: boolean;
  readonly roles?: readonly Role[];
  readonly scopes?: readonly Scope[];
}

/**
 * Reads a route's policy once per handler, not per request: the decorators are fixed at
 * start-up. Handler-level metadata overrides the controller's (`getAllAndOverride`).
 */
export class RoutePolicies {
  private readonly byController = new WeakMap<object, WeakMap<object, RoutePolicy>>();

  constructor(private readonly reflector: Reflector) {}

  of(context: ExecutionContext): RoutePolicy {
    const handler = context.getHandler();
    const controller = context.getClass();
    let byHandler = this.byController.get(controller);
    if (!byHandler) {
      byHandler = new WeakMap();
      this.byController.set(controller, byHandler);
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
}
