import { randomUUID } from 'node:crypto';
import type { RotationOutcome, SessionsRepository } from '../../../src/auth/sessions.repository';

interface SessionRow {
  userId: string;
  kind: 'token' | 'cookie';
  absoluteExpiresAt: Date;
  authTime: Date;
  revokedAt?: Date;
  revokeReason?: string;
}

interface TokenRow {
  sessionId: string;
  expiresAt: Date;
  usedAt?: Date;
}

/**
 * SessionsRepository in memory, for unit specs of SessionsService: the same outcomes as the
 * SQL one (first use rotates; a used token is reuse; revoked, disabled, wrong kind, idle- or
 * absolute-expired is invalid), on `Date.now()` so fake timers move its clock. The SQL
 * version is held to the same behaviour by the e2e suites on PGlite and PostgreSQL.
 */
export class FakeSessionsRepository {
  readonly sessions = new Map<string, SessionRow>();
  readonly tokens = new Map<string, TokenRow>();
  readonly disabledUsers = new Set<string>();

  createWithToken(values: {
    userId: string;
    kind: 'token' | 'cookie';
    absoluteExpiresAt: Date;
    tokenHash: string;
    tokenExpiresAt: Date;
  }): Promise<{ id: string; authTime: Date }> {
    const id = randomUUID();
    const authTime = new Date();
    this.sessions.set(id, {
      userId: values.userId,
      kind: values.kind,
      absoluteExpiresAt: values.absoluteExpiresAt,
      authTime,
    });
    this.tokens.set(values.tokenHash, { sessionId: id, expiresAt: values.tokenExpiresAt });
    return Promise.resolve({ id, authTime });
  }

  rotate(
    tokenHash: string,
    kind: 'token' | 'cookie',
    // The reuse grace for concurrent browser refreshes is covered by the e2e suites on SQL.
    _client: { id: string; graceMs: number },
    next: (absoluteExpiresAt: Date) => { tokenHash: string; expiresAt: Date },
  ): Promise<RotationOutcome> {
    const now = new Date();
    const token = this.tokens.get(tokenHash);
    if (!token) return Promise.resolve({ kind: 'invalid' });
    const session = this.sessions.get(token.sessionId)!;
    if (token.usedAt) {
      return Promise.resolve({
        kind: 'reused',
        sessionId: token.sessionId,
        userId: session.userId,
      });
    }
    token.usedAt = now;
    if (
      session.revokedAt ||
      this.disabledUsers.has(session.userId) ||
      session.kind !== kind ||
      token.expiresAt <= now ||
      session.absoluteExpiresAt <= now
    ) {
      return Promise.resolve({ kind: 'invalid' });
    }
    const successor = next(session.absoluteExpiresAt);
    this.tokens.set(successor.tokenHash, {
      sessionId: token.sessionId,
      expiresAt: successor.expiresAt,
    });
    return Promise.resolve({
      kind: 'rotated',
      sessionId: token.sessionId,
      userId: session.userId,
      authTime: session.authTime,
      grace: false,
      absoluteExpiresAt: session.absoluteExpiresAt,
    });
  }

  findSessionByTokenHash(
    tokenHash: string,
  ): Promise<{ sessionId: string; userId: string } | undefined> {
    const token = this.tokens.get(tokenHash);
    const session = token && this.sessions.get(token.sessionId);
    return Promise.resolve(
      token && session ? { sessionId: token.sessionId, userId: session.userId } : undefined,
    );
  }

  revoke(sessionId: string, reason: string): Promise<string[]> {
    const session = this.sessions.get(sessionId);
    if (!session || session.revokedAt) return Promise.resolve([]);
    Object.assign(session, { revokedAt: new Date(), revokeReason: reason });
    return Promise.resolve([sessionId]);
  }

  revokeAllForUser(userId: string, reason: string): Promise<string[]> {
    const ids = [...this.sessions]
      .filter(([, session]) => session.userId === userId && !session.revokedAt)
      .map(([id]) => id);
    for (const id of ids) void this.revoke(id, reason);
    return Promise.resolve(ids);
  }

  asRepository(): SessionsRepository {
    return this as unknown as SessionsRepository;
  }
}
