import { DomainError } from '../common/domain-error';
import type { Principal } from './principal';
import type { RoutePolicy } from './route-policy';

/** `@Roles()` then `@RequireScopes()`: 403 unless the principal has what the route asks. */
export function assertRouteAccess(policy: RoutePolicy, principal: Principal): void {
  const roles = policy.roles;
  if (roles?.length && !roles.some((role) => principal.roles.includes(role))) {
    throw new DomainError('forbidden', `This route needs the ${roles.join(' or ')} role.`);
  }
  const missing = policy.scopes?.filter((scope) => !principal.scopes.includes(scope)) ?? [];
  if (missing.length) {
    // RFC 6750 §3.1: the challenge names the scope the credential lacks.
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
}
