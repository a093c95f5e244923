import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import type { OidcConfig } from '../config/oidc.config';
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
  private readonly oidc: OidcConfig;

  constructor(
    private readonly users: UsersService,
    private readonly throttle: LoginThrottleService,
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
    config: ConfigService<KeywardConfig, true>,
  ) {
    this.oidc = config.get('oidc', { infer: true });
  }

  async login(
    username: string,
    password: string,
    ip: string,
    kind: SessionKind,
    options: SessionOptions = {},
  ): Promise<IssuedSession> {
    const breakGlassOnly = this.oidc.enabled && this.oidc.oidcOnly;
    // docs/sso.md "OIDC_ONLY": passwords are off but for the break-glass admins. Decided from
    // the configuration alone, before any lookup, so the refusal says nothing about the user.
    if (breakGlassOnly && !this.oidc.breakGlassUsers.includes(username.toLowerCase())) {
      await this.audit.record('login.failed', {
        subject: username,
        ip,
        details: { kind, reason: 'oidc_only' },
      });
      throw new DomainError(
        'forbidden',
        `Password sign-in is turned off; sign in with ${this.oidc.displayName}.`,
      );
    }
    // Unknown user, disabled user and wrong password take the same path and time.
    const user = await this.throttle.judge(username, ip, async () => {
      const found = await this.users.verifyCredentials(username, password);
      // A break-glass name that is no longer an admin is refused like a wrong password.
      return breakGlassOnly && !found?.roles.includes('admin') ? undefined : found;
    });
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
