import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import { UsersService } from '../users/users.service';
import { LoginThrottleService } from './login-throttle.service';
import type { Principal } from './principal';
import { SessionsService } from './sessions.service';

/**
 * A local user's own password change (POST /api/v1/auth/password). The current password is
 * checked under the sign-in brute-force rules (a stolen session cannot guess it at leisure);
 * on success every other session of the user ends and this one stays. API keys stay too:
 * they are revoked one by one (DELETE /api/v1/keys/:id); an admin reset ends them.
 */
@Injectable()
export class PasswordChangeService {
  constructor(
    private readonly users: UsersService,
    private readonly throttle: LoginThrottleService,
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
  ) {}

  async change(
    principal: Principal,
    currentPassword: string,
    newPassword: string,
    ip: string,
  ): Promise<void> {
    const user =
      principal.authMethod === 'external' ? undefined : await this.users.findById(principal.userId);
    if (!user || user.machine || !principal.sessionId) {
      throw new DomainError(
        'forbidden',
        'Only a signed-in local user can change their password here.',
      );
    }
    // A new password the policy refuses is refused before the current one is judged: it
    // says nothing about the current password and must not count as a failed sign-in.
    this.users.checkPassword(newPassword, user.username);
    const verified = await this.throttle.judge(user.username, ip, () =>
      this.users.verifyCredentials(user.username, currentPassword),
    );
    if (!verified || verified.id !== user.id) {
      await this.audit.record('login.failed', {
        actorId: user.id,
        subject: user.username,
        ip,
        details: { kind: 'password_change' },
      });
      throw new DomainError('forbidden', 'The current password is incorrect.');
    }
    const actor = { id: user.id, ip };
    // Other sessions end before and after the change: a sign-in between the two steps
    // still saw the old password (as UsersService.update does for admin resets).
    await this.sessions.revokeAllForUser(user.id, 'password_changed', principal.sessionId);
    await this.users.changeOwnPassword(user.id, newPassword, actor);
    await this.sessions.revokeAllForUser(user.id, 'password_changed', principal.sessionId);
  }
}
