import { Injectable } from '@nestjs/common';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import { authSessions, refreshTokens, users } from '../database/schema';

export type RotationOutcome =
  | { kind: 'rotated'; sessionId: string; userId: string; absoluteExpiresAt: Date }
  | { kind: 'reused'; sessionId: string; userId: string }
  | { kind: 'invalid' };

/** Narrow queries for sessions (refresh-token families) and their refresh tokens. */
@Injectable()
export class SessionsRepository {
  constructor(private readonly database: DatabaseService) {}

  async createWithToken(values: {
    userId: string;
    kind: 'token' | 'cookie';
    absoluteExpiresAt: Date;
    tokenHash: string;
    tokenExpiresAt: Date;
  }): Promise<string> {
    return this.database.db.transaction(async (tx) => {
      const [session] = await tx
        .insert(authSessions)
        .values({
          userId: values.userId,
          kind: values.kind,
          absoluteExpiresAt: values.absoluteExpiresAt,
        })
        .returning({ id: authSessions.id });
      await tx.insert(refreshTokens).values({
        sessionId: session.id,
        tokenHash: values.tokenHash,
        expiresAt: values.tokenExpiresAt,
      });
      return session.id;
    });
  }

  /**
   * RFC 9700 §4.14.2: marks the presented token used and stores its successor in one
   * transaction. The `used_at IS NULL` condition makes the first of two concurrent
   * refreshes win; the second sees a used token, which is reuse. A crash before commit
   * leaves the old token valid, so nobody is locked out by a half-written rotation.
   */
  rotate(
    tokenHash: string,
    kind: 'token' | 'cookie',
    next: (absoluteExpiresAt: Date) => { tokenHash: string; expiresAt: Date },
  ): Promise<RotationOutcome> {
    return this.database.db.transaction(async (tx): Promise<RotationOutcome> => {
      const now = new Date();
      const [claimed] = await tx
        .update(refreshTokens)
        .set({ usedAt: now })
        .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.usedAt)))
        .returning({ sessionId: refreshTokens.sessionId, expiresAt: refreshTokens.expiresAt });
      if (!claimed) {
        const [previous] = await tx
          .select({ sessionId: refreshTokens.sessionId, userId: authSessions.userId })
          .from(refreshTokens)
          .innerJoin(authSessions, eq(authSessions.id, refreshTokens.sessionId))
          .where(eq(refreshTokens.tokenHash, tokenHash))
          .limit(1);
        return previous ? { kind: 'reused', ...previous } : { kind: 'invalid' };
      }
      const [session] = await tx
        .select({
          userId: authSessions.userId,
          kind: authSessions.kind,
          absoluteExpiresAt: authSessions.absoluteExpiresAt,
          revokedAt: authSessions.revokedAt,
          disabled: users.disabled,
        })
        .from(authSessions)
        .innerJoin(users, eq(users.id, authSessions.userId))
        .where(eq(authSessions.id, claimed.sessionId))
        .limit(1);
      if (
        !session ||
        session.revokedAt ||
        session.disabled ||
        session.kind !== kind ||
        claimed.expiresAt <= now ||
        session.absoluteExpiresAt <= now
      ) {
        return { kind: 'invalid' };
      }
      const successor = next(session.absoluteExpiresAt);
      await tx.insert(refreshTokens).values({
        sessionId: claimed.sessionId,
        tokenHash: successor.tokenHash,
        expiresAt: successor.expiresAt,
      });
      return {
        kind: 'rotated',
        sessionId: claimed.sessionId,
        userId: session.userId,
        absoluteExpiresAt: session.absoluteExpiresAt,
      };
    });
  }

  async findSessionByTokenHash(
    tokenHash: string,
  ): Promise<{ sessionId: string; userId: string } | undefined> {
    const [row] = await this.database.db
      .select({ sessionId: refreshTokens.sessionId, userId: authSessions.userId })
      .from(refreshTokens)
      .innerJoin(authSessions, eq(authSessions.id, refreshTokens.sessionId))
      .where(eq(refreshTokens.tokenHash, tokenHash))
      .limit(1);
    return row;
  }

  /** Returns the ids it revoked (those not revoked already). */
  async revoke(sessionId: string, reason: string): Promise<string[]> {
    const rows = await this.database.db
      .update(authSessions)
      .set({ revokedAt: new Date(), revokeReason: reason })
      .where(and(eq(authSessions.id, sessionId), isNull(authSessions.revokedAt)))
      .returning({ id: authSessions.id });
    return rows.map((row) => row.id);
  }

  async revokeAllForUser(userId: string, reason: string): Promise<string[]> {
    const rows = await this.database.db
      .update(authSessions)
      .set({ revokedAt: new Date(), revokeReason: reason })
      .where(and(eq(authSessions.userId, userId), isNull(authSessions.revokedAt)))
      .returning({ id: authSessions.id });
    return rows.map((row) => row.id);
  }

  /** Sessions revoked after `since` (the revocation poll of every instance). */
  revokedSince(since: Date): Promise<{ id: string; revokedAt: Date | null }[]> {
    return this.database.db
      .select({ id: authSessions.id, revokedAt: authSessions.revokedAt })
      .from(authSessions)
      .where(gt(authSessions.revokedAt, since));
  }

  /** Housekeeping: used or expired refresh tokens older than a day are dead weight. */
  async deleteExpiredTokens(): Promise<void> {
    await this.database.db
      .delete(refreshTokens)
      .where(sql`${refreshTokens.expiresAt} < now() - interval '1 day'`);
  }
}
