import {
  applyDecorators,
  createParamDecorator,
  type ExecutionContext,
  SetMetadata,
} from '@nestjs/common';
import { ApiTags } from '../http/openapi-decorators';
import type { FastifyRequest } from 'fastify';
import type { Role } from '../database/schema';
import type { Actor } from '../users/users.service';
import type { Principal, Scope } from './principal';

export const ROLES_KEY = 'keyward:roles';
export const SCOPES_KEY = 'keyward:scopes';
export const METRICS_TOKEN_KEY = 'keyward:metricsToken';

/** The caller needs one of these roles (403 otherwise). */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);

/**
 * The caller's credential must carry every one of these scopes (403 otherwise). `keys` is
 * account management (API keys, ending sessions): sign-in sessions have it, API keys never.
 */
export const RequireScopes = (...scopes: Scope[]) => SetMetadata(SCOPES_KEY, scopes);

/**
 * An admin controller: the admin role and a credential with the admin scope (an admin's API
 * key only if it was given that scope), listed under the `admin` tag in the OpenAPI document.
 */
export const AdminOnly = () =>
  applyDecorators(ApiTags('admin'), Roles('admin'), RequireScopes('admin'));

/**
 * States that any credential of the user will do, whatever its scopes. Every guarded route
 * states its scope one way or the other; the route inventory test checks none is missing.
 */
export const AnyScope = () => SetMetadata(SCOPES_KEY, []);

/** This route also accepts `Authorization: Bearer <METRICS_TOKEN>` (for Prometheus scrapers). */
export const AllowMetricsToken = () => SetMetadata(METRICS_TOKEN_KEY, true);

/** The authenticated principal of the request. */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal =>
    context.switchToHttp().getRequest<{ user: Principal }>().user,
);

/** Who makes a change, for the audit log: the principal's user id and the client address. */
export const CurrentActor = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Actor => {
    const request = context.switchToHttp().getRequest<FastifyRequest & { user: Principal }>();
    return { id: request.user.userId, ip: request.ip };
  },
);
