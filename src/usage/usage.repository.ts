import { Injectable } from '@nestjs/common';
import { and, asc, desc, eq, gte, sql } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import { chatUsage } from '../database/schema';

export interface UsageEntry {
  readonly userId: string;
  readonly day: string;
  readonly model: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export interface UsageRow extends UsageEntry {
  readonly requests: number;
}

@Injectable()
export class UsageRepository {
  constructor(private readonly database: DatabaseService) {}

  /**
   * Adds settled requests (`requests`, default one, already summed into the token counts).
   * A single `INSERT ... ON CONFLICT DO UPDATE` increments the day's row atomically, so
   * concurrent settlements (on any number of instances) neither lose nor double-count tokens.
   */
  async add(entry: UsageEntry, requests = 1): Promise<void> {
    await this.database.db
      .insert(chatUsage)
      .values({ ...entry, requests })
      .onConflictDoUpdate({
        target: [chatUsage.userId, chatUsage.day, chatUsage.model],
        set: {
          promptTokens: sql`${chatUsage.promptTokens} + excluded.prompt_tokens`,
          completionTokens: sql`${chatUsage.completionTokens} + excluded.completion_tokens`,
          requests: sql`${chatUsage.requests} + excluded.requests`,
          updatedAt: sql`now()`,
        },
      });
  }

  /** Tokens a user has spent on a day, all models together: the budget's starting point. */
  async dayTotal(userId: string, day: string): Promise<number> {
    const [row] = await this.database.db
      .select({
        total: sql<string | null>`sum(${chatUsage.promptTokens} + ${chatUsage.completionTokens})`,
      })
      .from(chatUsage)
      .where(and(eq(chatUsage.userId, userId), eq(chatUsage.day, day)));
    return Number(row?.total ?? 0);
  }

  /** Rows since `sinceDay` (inclusive), newest day first; one user or everyone. */
  async listSince(sinceDay: string, userId?: string): Promise<UsageRow[]> {
    const rows = await this.database.db
      .select({
        userId: chatUsage.userId,
        day: chatUsage.day,
        model: chatUsage.model,
        promptTokens: chatUsage.promptTokens,
        completionTokens: chatUsage.completionTokens,
        requests: chatUsage.requests,
      })
      .from(chatUsage)
      .where(
        and(
          gte(chatUsage.day, sinceDay),
          userId === undefined ? undefined : eq(chatUsage.userId, userId),
        ),
      )
      .orderBy(desc(chatUsage.day), asc(chatUsage.userId), asc(chatUsage.model));
    return rows;
  }
}
