import { Injectable } from '@nestjs/common';
import { and, asc, desc, eq, gte, sql } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import type { SqlStatement } from '../database/pglite-worker';
import { chatUsage } from '../database/schema';

export interface UsageEntry {
  readonly userId: string;
  readonly day: string;
  readonly model: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens: number;
  readonly reasoningTokens: number;
  /** nano-USD. */
  readonly costNanos: number;
}

export interface UsageRow extends UsageEntry {
  readonly requests: number;
}

const ADD_USAGE = `INSERT INTO chat_usage
  (user_id, day, model, prompt_tokens, completion_tokens, requests,
   cached_tokens, reasoning_tokens, cost_nanos)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
  ON CONFLICT (user_id, day, model) DO UPDATE SET
    prompt_tokens = chat_usage.prompt_tokens + excluded.prompt_tokens,
    completion_tokens = chat_usage.completion_tokens + excluded.completion_tokens,
    cached_tokens = chat_usage.cached_tokens + excluded.cached_tokens,
    reasoning_tokens = chat_usage.reasoning_tokens + excluded.reasoning_tokens,
    cost_nanos = chat_usage.cost_nanos + excluded.cost_nanos,
    requests = chat_usage.requests + excluded.requests,
    updated_at = now()`;

@Injectable()
export class UsageRepository {
  constructor(private readonly database: DatabaseService) {}

  /**
   * Adds settled requests (`requests` of them, already summed into the token counts).
   * A single `INSERT ... ON CONFLICT DO UPDATE` increments the day's row atomically, so
   * concurrent settlements (on any number of instances) neither lose nor double-count tokens.
   * Plain SQL (the `chat_usage` table of `schema.ts`): it runs for every batched usage write.
   */
  async add(entry: UsageEntry, requests: number): Promise<void> {
    const statement = this.addStatement(entry, requests);
    await this.database.run(statement.sql, statement.params);
  }

  /** The upsert of `add`, for a caller that runs it inside its own transaction. */
  addStatement(entry: UsageEntry, requests: number): SqlStatement {
    return {
      sql: ADD_USAGE,
      params: [
        entry.userId,
        entry.day,
        entry.model,
        entry.promptTokens,
        entry.completionTokens,
        requests,
        entry.cachedTokens,
        entry.reasoningTokens,
        entry.costNanos,
      ],
    };
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
        cachedTokens: chatUsage.cachedTokens,
        reasoningTokens: chatUsage.reasoningTokens,
        costNanos: chatUsage.costNanos,
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
