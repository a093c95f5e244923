import { Injectable } from '@nestjs/common';
import { and, eq, isNull, ne, sql } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import { authSessions, refreshTokens, type Role, users } from '../database/schema';

export type RotationOutcome =
  | {
      kind: 'rotated';
      sessionId: string;
      userId: string;
      absoluteExpiresAt: Date;
      authTime: Date;
      /** Within the reuse grace: a second rotation of one token by the client that rotated it. */
      grace: boolean;
    }
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
  }): Promise<{ id: string; authTime: Date }> {
    return this.database.db.transaction(async (tx) => {
      const [session] = await tx
        .insert(authSessions)
        .values({
          userId: values.userId,
          kind: values.kind,
          absoluteExpiresAt: values.absoluteExpiresAt,
          // This instance's clock, like the access tokens' iat/exp it is compared with.
          authTime: new Date(),
        })
        .returning({ id: authSessions.id, authTime: authSessions.authTime });
      await tx.insert(refreshTokens).values({
        sessionId: session.id,
        tokenHash: values.tokenHash,
        expiresAt: values.tokenExpiresAt,
      });
      return session;
    });
  }

  /**
   * A client_credentials session: no refresh token, so it ends with its access token
   * (absolute expiry = the token's `exp`). It exists so that the token has a `sid` that
   * disabling the client revokes at once, like any other session.
   */
  async createClientSession(
    userId: string,
    expiresAt: Date,
  ): Promise<{ id: string; authTime: Date }> {
    const [session] = await this.database.db
      .insert(authSessions)
      .values({ userId, kind: 'client', absoluteExpiresAt: expiresAt, authTime: new Date() })
      .returning({ id: authSessions.id, authTime: authSessions.authTime });
    return session;
  }

  /**
   * RFC 9700 §4.14.2: marks the presented token used and stores its successor in one
   * transaction. The `used_at IS NULL` condition makes the first of two concurrent
   * refreshes win; the second sees a used token, which is reuse. A crash before commit
   * leaves the old token valid, so nobody is locked out by a half-written rotation.
   *
   * Reuse grace (REFRESH_REUSE_GRACE, browser sessions only): two tabs refreshing one cookie
   * at once present the same token. A used token presented again by the same client (address
   * and User-Agent hash) within the grace gets a sibling successor instead of the reuse
   * alarm; the first sibling later rotated supersedes the others, so presenting one of those
   * afterwards is reuse again. Any other client, any later time and every OAuth2 (`token`)
   * session keep plain reuse detection.
   */
  rotate(
    tokenHash: string,
    kind: 'token' | 'cookie',
    client: { id: string; graceMs: number },
    next: (absoluteExpiresAt: Date) => { tokenHash: string; expiresAt: Date },
  ): Promise<RotationOutcome> {
    return this.database.db.transaction(async (tx): Promise<RotationOutcome> => {
      const now = new Date();
      let grace = false;
      let [claimed] = await tx
        .update(refreshTokens)
        .set({ usedAt: now, usedBy: client.id })
        .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.usedAt)))
        .returning({ sessionId: refreshTokens.sessionId, expiresAt: refreshTokens.expiresAt });
      if (!claimed) {
        const [previous] = await tx
          .select({
            sessionId: refreshTokens.sessionId,
            userId: authSessions.userId,
            expiresAt: refreshTokens.expiresAt,
            usedAt: refreshTokens.usedAt,
            usedBy: refreshTokens.usedBy,
            kind: authSessions.kind,
          })
          .from(refreshTokens)
          .innerJoin(authSessions, eq(authSessions.id, refreshTokens.sessionId))
          .where(eq(refreshTokens.tokenHash, tokenHash))
          .limit(1);
        if (!previous) return { kind: 'invalid' };
        const inGrace =
          kind === 'cookie' &&
          previous.kind === 'cookie' &&
          client.graceMs > 0 &&
          previous.usedBy === client.id &&
          previous.usedAt !== null &&
          now.getTime() - previous.usedAt.getTime() <= client.graceMs;
        if (!inGrace) {
          return { kind: 'reused', sessionId: previous.sessionId, userId: previous.userId };
        }
        grace = true;
        claimed = { sessionId: previous.sessionId, expiresAt: previous.expiresAt };
      }
      const [session] = await tx
        .select({
          userId: authSessions.userId,
          kind: authSessions.kind,
          authTime: authSessions.authTime,
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
      if (!grace) {
        // Siblings a reuse grace left live are superseded: the client moved on with this one.
        await tx
          .update(refreshTokens)
          .set({ usedAt: now })
          .where(and(eq(refreshTokens.sessionId, claimed.sessionId), isNull(refreshTokens.usedAt)));
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
        authTime: session.authTime,
        grace,
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

  /** The user behind a session, for a token seen the first time (not per request). */
  async findOwner(
    sessionId: string,
  ): Promise<{ userId: string; roles: Role[]; disabled: boolean; revoked: boolean } | undefined> {
    const [row] = await this.database.db
      .select({
        userId: authSessions.userId,
        roles: users.roles,
        disabled: users.disabled,
        revokedAt: authSessions.revokedAt,
      })
      .from(authSessions)
      .innerJoin(users, eq(users.id, authSessions.userId))
      .where(eq(authSessions.id, sessionId))
      .limit(1);
    return row && { ...row, revoked: row.revokedAt !== null };
  }

  /**
   * Returns the ids it revoked (those not revoked already). `revoked_at` is the database's
   * `now()`, the one clock every instance's poll compares with (instances' clocks may drift).
   */
  async revoke(sessionId: string, reason: string): Promise<string[]> {
    const rows = await this.database.db
      .update(authSessions)
      .set({ revokedAt: sql`now()`, revokeReason: reason })
      .where(and(eq(authSessions.id, sessionId), isNull(authSessions.revokedAt)))
      .returning({ id: authSessions.id });
    return rows.map((row) => row.id);
  }

  async revokeAllForUser(
    userId: string,
    reason: string,
    exceptSessionId?: string,
  ): Promise<string[]> {
    const rows = await this.database.db
      .update(authSessions)
      .set({ revokedAt: sql`now()`, revokeReason: reason })
      .where(
        and(
          eq(authSessions.userId, userId),
          isNull(authSessions.revokedAt),
          exceptSessionId ? ne(authSessions.id, exceptSessionId) : undefined,
        ),
      )
      .returning({ id: authSessions.id });
    return rows.map((row) => row.id);
  }

  /**
   * Sessions revoked after `afterMs` (the database's clock, from the previous poll), or within
   * the last `lookbackMs` on the first poll, with the database's `now()` for the next cursor.
   * Nothing here reads this instance's clock.
   */
  async revokedSince(
    afterMs: number | undefined,
    lookbackMs: number,
  ): Promise<{ ids: string[]; nowMs: number }> {
    const result: unknown = await this.database.db.execute(
      sql`select s.id, (extract(epoch from n.now) * 1000)::float8 as now_ms
          from (select now() as now) n
          left join ${authSessions} s on s.revoked_at > coalesce(
            to_timestamp(${afterMs ?? null}::float8 / 1000),
            n.now - make_interval(secs => ${lookbackMs / 1000}::float8))`,
    );
    // node-postgres and PGlite both answer raw queries with `{ rows }`.
    const { rows } = result as {
      rows: { id: string | null; now_ms: number | string }[];
    };
    return {
      ids: rows.flatMap((row) => (row.id ? [row.id] : [])),
      nowMs: Number(rows[0]?.now_ms),
    };
  }

  /**
   * Housekeeping (docs/reference.md "Tokens"): deletes up to `limit` sessions that ended —
   * past their absolute expiry, or revoked — more than `retentionSeconds` ago by the
   * database's clock; their refresh tokens and single-sign-on rows go with them (cascade).
   * Rows another instance is deleting are skipped, not waited for. Returns how many went.
   */
  async deleteEnded(retentionSeconds: number, limit: number): Promise<number> {
    const rows = await this.database.query<{ n: number }>(
      `WITH gone AS (DELETE FROM auth_sessions WHERE id IN (
         SELECT id FROM auth_sessions
         WHERE absolute_expires_at < now() - make_interval(secs => $1::float8)
            OR revoked_at < now() - make_interval(secs => $1::float8)
         LIMIT ${limit} FOR UPDATE SKIP LOCKED
       ) RETURNING 1) SELECT count(*)::int AS n FROM gone`,
      [retentionSeconds],
    );
    return Number(rows[0]?.n ?? 0);
  }
}
