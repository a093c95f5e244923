/** The security events of docs/reference.md "Audit and logs". */
export type AuditEvent =
  | 'login.succeeded'
  | 'login.failed'
  | 'login.locked'
  | 'login.sso'
  | 'login.sso_failed'
  | 'refresh.reused'
  | 'logout'
  | 'logout.all'
  | 'api_key.created'
  | 'api_key.revoked'
  | 'api_key.rotated'
  | 'api_key.updated'
  | 'api_key.disabled'
  | 'api_key.enabled'
  | 'team.created'
  | 'team.updated'
  | 'team.deleted'
  | 'team.member_added'
  | 'team.member_role_changed'
  | 'team.member_removed'
  | 'user.created'
  | 'user.jit_created'
  | 'user.disabled'
  | 'user.enabled'
  | 'user.roles_changed'
  | 'user.password_changed'
  | 'user.limits_changed'
  | 'client.created'
  | 'client.secret_rotated'
  | 'client.disabled'
  | 'client.enabled'
  | 'client.token_issued'
  | 'client.auth_failed'
  | 'secrets.reloaded'
  | 'quota.refused';

export interface AuditEntry {
  readonly actorId?: string | null;
  /** What the event is about: a username, a key id, a session id. */
  readonly subject?: string | null;
  readonly ip?: string | null;
  readonly details?: Record<string, unknown>;
}
