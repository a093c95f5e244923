import { Injectable } from '@nestjs/common';
import { and, eq, sql, TransactionRollbackError } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import { oidcIdentities, oidcSessions, type Role, type UserRow, users } from '../database/schema';
import { isUniqueViolation } from '../users/users.repository';

/** Narrow queries for single-sign-on identities and sessions. */
@Injectable()
export class OidcIdentitiesRepository {
  constructor(private readonly database: DatabaseService) {}

  /** The user linked to (issuer, subject), and marks the sign-in. */
  async findUser(issuer: string, subject: string): Promise<UserRow | undefined> {
    const [row] = await this.database.db
      .update(oidcIdentities)
      .set({ lastLoginAt: new Date() })
      .where(and(eq(oidcIdentities.issuer, issuer), eq(oidcIdentities.subject, subject)))
      .returning({ userId: oidcIdentities.userId });
    if (!row) return undefined;
    const [user] = await this.database.db.select().from(users).where(eq(users.id, row.userId));
    return user;
  }

  /**
   * Creates a user without a password and links it to (issuer, subject), in one
   * transaction: `linked` when another sign-in of the same subject won a race (nothing is
   * created), `taken` when the username exists (nothing is created).
   */
  async createLinkedUser(values: {
    issuer: string;
    subject: string;
    username: string;
    roles: Role[];
  }): Promise<{ kind: 'created'; user: UserRow } | { kind: 'taken' } | { kind: 'linked' }> {
    try {
      return await this.database.db.transaction(async (tx) => {
        const [user] = await tx
          .insert(users)
          .values({ username: values.username, passwordHash: null, roles: values.roles })
          .onConflictDoNothing()
          .returning();
        if (!user) return { kind: 'taken' as const };
        const [link] = await tx
          .insert(oidcIdentities)
          .values({ issuer: values.issuer, subject: values.subject, userId: user.id })
          .onConflictDoNothing()
          .returning();
        if (!link) {
          tx.rollback();
        }
        return { kind: 'created' as const, user };
      });
    } catch (error) {
      if (isUniqueViolation(error)) return { kind: 'taken' };
      if (isRollback(error)) return { kind: 'linked' };
      throw error;
    }
  }

  async usernameTaken(username: string): Promise<boolean> {
    const [row] = await this.database.db
      .select({ id: users.id })
      .from(users)
      .where(sql`lower(${users.username}) = lower(${username})`)
      .limit(1);
    return Boolean(row);
  }

  async saveIdToken(sessionId: string, idToken: string): Promise<void> {
    await this.database.db.insert(oidcSessions).values({ sessionId, idToken });
  }

  /** The ID token of the session, deleted as it is read (RP-initiated logout uses it once). */
  async takeIdToken(sessionId: string): Promise<string | undefined> {
    const [row] = await this.database.db
      .delete(oidcSessions)
      .where(eq(oidcSessions.sessionId, sessionId))
      .returning({ idToken: oidcSessions.idToken });
    return row?.idToken;
  }

  async idTokenOf(sessionId: string): Promise<string | undefined> {
    const [row] = await this.database.db
      .select({ idToken: oidcSessions.idToken })
      .from(oidcSessions)
      .where(eq(oidcSessions.sessionId, sessionId));
    return row?.idToken;
  }
}

function isRollback(error: unknown): boolean {
  return error instanceof TransactionRollbackError;
}
