import { Injectable } from '@nestjs/common';
import { asc, eq, sql } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import { type Role, type UserRow, users } from '../database/schema';

export interface UserPatch {
  roles?: Role[];
  disabled?: boolean;
  passwordHash?: string;
  chatRpm?: number | null;
  chatDailyTokens?: number | null;
}

/** Unique-violation SQLSTATE, the same from pg and PGlite. */
const UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  // Drizzle wraps driver errors; the SQLSTATE sits on the cause.
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    if ((current as { code?: unknown }).code === UNIQUE_VIOLATION) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

@Injectable()
export class UsersRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(values: {
    id?: string;
    username: string;
    passwordHash: string | null;
    roles: Role[];
    machine?: boolean;
  }): Promise<UserRow> {
    const [row] = await this.database.db.insert(users).values(values).returning();
    return row;
  }

  async findById(id: string): Promise<UserRow | undefined> {
    const [row] = await this.database.db.select().from(users).where(eq(users.id, id)).limit(1);
    return row;
  }

  /** Usernames match regardless of case. */
  async findByUsername(username: string): Promise<UserRow | undefined> {
    const [row] = await this.database.db
      .select()
      .from(users)
      .where(sql`lower(${users.username}) = lower(${username})`)
      .limit(1);
    return row;
  }

  listAll(): Promise<UserRow[]> {
    return this.database.db.select().from(users).orderBy(asc(users.createdAt));
  }

  async count(): Promise<number> {
    const [row] = await this.database.db.select({ n: sql<number>`count(*)::int` }).from(users);
    return row.n;
  }

  async update(id: string, patch: UserPatch): Promise<UserRow | undefined> {
    const [row] = await this.database.db
      .update(users)
      .set({ ...patch, updatedAt: new Date() })
      .where(eq(users.id, id))
      .returning();
    return row;
  }
}
