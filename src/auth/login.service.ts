import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import { UsersService } from '../users/users.service';
import { LoginThrottleService } from './login-throttle.service';
import {
  type IssuedSession,
  type SessionKind,
  type SessionOptions,
  SessionsService,
} from './sessions.service';

/** Password sign-in for both the token endpoint and the browser session. */
@Injectable()
export class LoginService {
  constructor(
    private readonly users: UsersService,
    private readonly throttle: LoginThrottleService,
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
  ) {}

  async login(
    username: string,
    password: string,
    ip: string,
    kind: SessionKind,
    options: SessionOptions = {},
  ): Promise<IssuedSession> {
    // Unknown user, disabled user and wrong password take the same path and time.
    const user = await this.throttle.judge(username, ip, () =>
      this.users.verifyCredentials(username, password),
    );
    if (!user) {
      await this.audit.record('login.failed', { subject: username, ip, details: { kind } });
      throw new DomainError('invalid_credentials', 'The username or password is incorrect.');
    }
    const session = await this.sessions.start(user, kind, options);
    await this.audit.record('login.succeeded', {
      actorId: user.id,
      subject: session.sessionId,
      ip,
      details: { kind },
    });
    return session;
  }
}
