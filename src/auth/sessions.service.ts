import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import { PeriodicTask, untilShortBatch } from '../common/periodic-task';
import type { AuthConfig } from '../config/auth.config';
import type { KeywardConfig } from '../config/configuration';
import type { User } from '../users/user';
import { UsersService } from '../users/users.service';
import { AccessTokenService } from './access-token.service';
import { RevocationService } from './revocation.service';
import { randomToken, sha256 } from './secure-random';
import { SessionsRepository } from './sessions.repository';

export type SessionKind = 'token' | 'cookie';

/** An ended session is kept this long (at least), for whoever investigates a sign-in. */
const SESSION_RETENTION_SECONDS = 86_400;
/** Sessions deleted per statement: short transactions, no long locks. */
const PRUNE_BATCH = 5000;

/** RFC 8707: the one service (JWT_RESOURCES) the access token is for; default Keyward. */
export interface SessionOptions {
  readonly audience?: string;
}

export interface IssuedSession {
  readonly sessionId: string;
  readonly userId: string;
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly refreshToken: string;
  /** When the refresh token dies if unused (idle TTL, capped by the absolute TTL). */
  readonly refreshExpiresAt: Date;
  readonly username: string;
  readonly roles: User['roles'];
  /** The access token's scopes, space-separated (the token response's `scope`). */
  readonly scope: string;
}

/** A client_credentials grant: an access token and nothing else (RFC 6749 §4.4.3). */
export interface IssuedClientToken {
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly scope: string;
}

/** Who refreshes: the reuse grace holds only for the client that rotated the token. */
export interface RefreshClient {
  readonly ip?: string;
  readonly userAgent?: string;
}

/**
 * Sessions are refresh-token families: started by a login, rotated on every refresh,
 * revoked whole on logout or on reuse of a rotated token.
 */
@Injectable()
export class SessionsService implements OnModuleInit, OnModuleDestroy {
  private readonly auth: AuthConfig;
  private readonly logger = new Logger(SessionsService.name);
  private readonly pruning = new PeriodicTask(
    'ended sessions prune',
    () => this.pruneEnded(),
    (message) => this.logger.warn(message),
  );

  constructor(
    private readonly repository: SessionsRepository,
    private readonly accessTokens: AccessTokenService,
    private readonly revocation: RevocationService,
    private readonly users: UsersService,
    private readonly audit: AuditService,
    config: ConfigService<KeywardConfig, true>,
  ) {
    this.auth = config.get('auth', { infer: true });
  }

  onModuleInit(): void {
    // Disable, password reset and role removal end every session of the user (docs/reference.md "Identity").
    this.users.onCredentialsEnded(({ userId, reason }) =>
      this.revokeAllForUser(userId, reason).then(() => undefined),
    );
    this.pruning.start();
  }

  onModuleDestroy(): void {
    this.pruning.stop();
  }

  /**
   * Deletes the sessions that can no longer authenticate anything (docs/reference.md "Tokens"):
   * past their absolute expiry or revoked, for longer than SESSION_RETENTION_SECONDS and than
   * an access token of theirs could still live. Every client_credentials grant and sign-in
   * makes a session, so without this the table only grows. Hourly on every instance; safe on
   * several at once. Returns the sessions deleted.
   */
  async pruneEnded(): Promise<number> {
    const retention = Math.max(
      SESSION_RETENTION_SECONDS,
      this.auth.accessTokenTtl + this.auth.clockToleranceSeconds,
    );
    return untilShortBatch(() => this.repository.deleteEnded(retention, PRUNE_BATCH), PRUNE_BATCH);
  }

  async start(user: User, kind: SessionKind, options: SessionOptions = {}): Promise<IssuedSession> {
    const now = Date.now();
    const absoluteExpiresAt = new Date(now + this.auth.refreshAbsoluteTtl * 1000);
    const refreshToken = randomToken();
    const refreshExpiresAt = this.refreshExpiry(now, absoluteExpiresAt);
    const { id: sessionId, authTime } = await this.repository.createWithToken({
      userId: user.id,
      kind,
      absoluteExpiresAt,
      tokenHash: sha256(refreshToken),
      tokenExpiresAt: refreshExpiresAt,
    });
    const access = this.accessTokens.issue(user, sessionId, authTime, options);
    return {
      sessionId,
      userId: user.id,
      accessToken: access.token,
      expiresIn: access.expiresIn,
      refreshToken,
      refreshExpiresAt,
      username: user.username,
      roles: user.roles,
      scope: access.scope,
    };
  }

  /**
   * A machine client's access token (`sub` = `client_id` = the client's id, which is its
   * service user's id), in a session of its own that disabling the client revokes.
   */
  async startClient(
    user: User,
    scopes: readonly string[],
    options: SessionOptions = {},
  ): Promise<IssuedClientToken> {
    const expiresAt = new Date(Date.now() + this.accessTokens.ttlSeconds * 1000);
    const { id, authTime } = await this.repository.createClientSession(user.id, expiresAt);
    const access = this.accessTokens.issue(user, id, authTime, {
      ...options,
      scopes,
      clientId: user.id,
    });
    return { accessToken: access.token, expiresIn: access.expiresIn, scope: access.scope };
  }

  /** Rotates a refresh token; a reused one revokes its whole family (RFC 9700 §4.14). */
  async refresh(
    refreshToken: string,
    kind: SessionKind,
    client: RefreshClient = {},
    options: SessionOptions = {},
  ): Promise<IssuedSession> {
    const { ip } = client;
    const next = randomToken();
    let refreshExpiresAt = new Date();
    const outcome = await this.repository.rotate(
      sha256(refreshToken),
      kind,
      {
        id: sha256(`${client.ip ?? ''}\n${client.userAgent ?? ''}`),
        graceMs: this.auth.refreshReuseGraceSeconds * 1000,
      },
      (absoluteExpiresAt) => {
        refreshExpiresAt = this.refreshExpiry(Date.now(), absoluteExpiresAt);
        return { tokenHash: sha256(next), expiresAt: refreshExpiresAt };
      },
    );
    switch (outcome.kind) {
      case 'invalid':
        throw new DomainError('invalid_grant', 'The refresh token is invalid or expired.');
      case 'reused': {
        await this.revoke(outcome.sessionId, 'refresh_token_reused');
        await this.audit.record('refresh.reused', {
          actorId: outcome.userId,
          subject: outcome.sessionId,
          ip,
        });
        throw new DomainError(
          'invalid_grant',
          'The refresh token was already used; the session is revoked.',
        );
      }
      case 'rotated': {
        const user = await this.users.findById(outcome.userId);
        if (!user || user.disabled)
          throw new DomainError('invalid_grant', 'The refresh token is invalid or expired.');
        // auth_time stays that of the sign-in: a refresh proves possession, not identity.
        const access = this.accessTokens.issue(user, outcome.sessionId, outcome.authTime, options);
        return {
          sessionId: outcome.sessionId,
          userId: user.id,
          accessToken: access.token,
          expiresIn: access.expiresIn,
          refreshToken: next,
          refreshExpiresAt,
          username: user.username,
          roles: user.roles,
          scope: access.scope,
        };
      }
    }
  }

  async revoke(sessionId: string, reason: string): Promise<void> {
    const ids = await this.repository.revoke(sessionId, reason);
    await this.revocation.revoke(ids.length ? ids : [sessionId]);
  }

  /** Every session of the user, except `exceptSessionId` when given (a password change). */
  async revokeAllForUser(
    userId: string,
    reason: string,
    exceptSessionId?: string,
  ): Promise<number> {
    const ids = await this.repository.revokeAllForUser(userId, reason, exceptSessionId);
    await this.revocation.revoke(ids);
    return ids.length;
  }

  findByRefreshToken(
    refreshToken: string,
  ): Promise<{ sessionId: string; userId: string } | undefined> {
    return this.repository.findSessionByTokenHash(sha256(refreshToken));
  }

  /** RFC 7009: revoking a refresh token ends its session. Unknown tokens are ignored. */
  async revokeByRefreshToken(
    refreshToken: string,
  ): Promise<{ sessionId: string; userId: string } | undefined> {
    const found = await this.repository.findSessionByTokenHash(sha256(refreshToken));
    if (found) await this.revoke(found.sessionId, 'revoked');
    return found;
  }

  private refreshExpiry(now: number, absoluteExpiresAt: Date): Date {
    return new Date(Math.min(now + this.auth.refreshIdleTtl * 1000, absoluteExpiresAt.getTime()));
  }
}
