import { Injectable } from '@nestjs/common';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import { type ApiKeyRow, type ApiKeyScope, apiKeys, type Role, users } from '../database/schema';

export interface ApiKeyOwner {
  readonly key: ApiKeyRow;
  readonly username: string;
  readonly roles: Role[];
  readonly disabled: boolean;
}

@Injectable()
export class ApiKeysRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(values: {
    userId: string;
    name: string;
    keyHash: string;
    prefix: string;
    scopes: ApiKeyScope[];
    expiresAt: Date | null;
  }): Promise<ApiKeyRow> {
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

  async findWithOwnerByHash(keyHash: string): Promise<ApiKeyOwner | undefined> {
    const [row] = await this.database.db
      .select({
        key: apiKeys,
        username: users.username,
        roles: users.roles,
        disabled: users.disabled,
      })
      .from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(eq(apiKeys.keyHash, keyHash))
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

  async revokeAllForUser(userId: string): Promise<ApiKeyRow[]> {
    return this.database.db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
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

  async touch(id: string, at: Date): Promise<void> {
    await this.database.db.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, id));
  }
}
