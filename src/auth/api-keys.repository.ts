import { Injectable } from '@nestjs/common';
import { and, desc, eq, gt, isNull, or, type SQL } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import { type ApiKeyRow, type ApiKeyScope, apiKeys, type Role, users } from '../database/schema';
import type { PolicyLimitsColumns } from '../policy/policy-limits';

export interface ApiKeyOwner {
  readonly key: ApiKeyRow;
  readonly username: string;
  readonly roles: Role[];
  readonly disabled: boolean;
}

export interface ApiKeyWithUsername {
  readonly key: ApiKeyRow;
  readonly username: string;
}

@Injectable()
export class ApiKeysRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(
    values: Partial<PolicyLimitsColumns> & {
      userId: string;
      name: string;
      keyHash: string;
      prefix: string;
      scopes: ApiKeyScope[];
      expiresAt: Date | null;
      teamId?: string | null;
      allowedCidrs?: string[] | null;
    },
  ): Promise<ApiKeyRow> {
    const [row] = await this.database.db.insert(apiKeys).values(values).returning();
    return row;
  }

  listActiveForUser(userId: string): Promise<ApiKeyRow[]> {
    return this.database.db
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
      .orderBy(desc(apiKeys.createdAt));
  }

  /** Active keys, with their owner's username: all, one user's or one team's. */
  listActive(filter: { userId?: string; teamId?: string }): Promise<ApiKeyWithUsername[]> {
    const conditions: SQL[] = [isNull(apiKeys.revokedAt)];
    if (filter.userId) conditions.push(eq(apiKeys.userId, filter.userId));
    if (filter.teamId) conditions.push(eq(apiKeys.teamId, filter.teamId));
    return this.database.db
      .select({ key: apiKeys, username: users.username })
      .from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(and(...conditions))
      .orderBy(desc(apiKeys.createdAt));
  }

  async findActive(id: string): Promise<ApiKeyRow | undefined> {
    const [row] = await this.database.db
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      .limit(1);
    return row;
  }

  /** The key whose secret hashes to `keyHash`, or whose old secret does within its grace. */
  async findWithOwnerByHash(keyHash: string, now: Date): Promise<ApiKeyOwner | undefined> {
    const [row] = await this.database.db
      .select({
        key: apiKeys,
        username: users.username,
        roles: users.roles,
        disabled: users.disabled,
      })
      .from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(
        or(
          eq(apiKeys.keyHash, keyHash),
          and(eq(apiKeys.previousKeyHash, keyHash), gt(apiKeys.previousKeyExpiresAt, now)),
        ),
      )
      .limit(1);
    return row;
  }

  async revokeOwned(userId: string, id: string): Promise<ApiKeyRow | undefined> {
    const [row] = await this.database.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
      .returning();
    return row;
  }

  /** Revokes a key by id, optionally only if it belongs to `teamId`. */
  async revokeById(id: string, teamId?: string): Promise<ApiKeyRow | undefined> {
    const [row] = await this.database.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(
        and(
          eq(apiKeys.id, id),
          isNull(apiKeys.revokedAt),
          teamId === undefined ? undefined : eq(apiKeys.teamId, teamId),
        ),
      )
      .returning();
    return row;
  }

  async revokeAllForUser(userId: string): Promise<ApiKeyRow[]> {
    return this.database.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
      .returning();
  }

  async revokeAllForTeam(teamId: string): Promise<ApiKeyRow[]> {
    return this.database.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.teamId, teamId), isNull(apiKeys.revokedAt)))
      .returning();
  }

  async revokeByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    const [row] = await this.database.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)))
      .returning();
    return row;
  }

  /** Changes an active key's name, policy or switch; with `teamId`, only a key of that team. */
  async update(
    id: string,
    values: Partial<PolicyLimitsColumns> & {
      name?: string;
      allowedCidrs?: string[] | null;
      disabled?: boolean;
    },
    teamId?: string,
  ): Promise<ApiKeyRow | undefined> {
    const [row] = await this.database.db
      .update(apiKeys)
      .set(values)
      .where(
        and(
          eq(apiKeys.id, id),
          isNull(apiKeys.revokedAt),
          teamId === undefined ? undefined : eq(apiKeys.teamId, teamId),
        ),
      )
      .returning();
    return row;
  }

  /** A new secret for the same key; the old one stays valid until `previousExpiresAt` (if any). */
  async rotate(
    id: string,
    values: {
      keyHash: string;
      prefix: string;
      previousKeyHash: string | null;
      previousKeyExpiresAt: Date | null;
    },
  ): Promise<ApiKeyRow | undefined> {
    const [row] = await this.database.db
      .update(apiKeys)
      .set(values)
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      .returning();
    return row;
  }

  async touch(id: string, at: Date): Promise<void> {
    await this.database.db.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, id));
  }
}
