import { Injectable } from '@nestjs/common';
import { and, eq, gte, inArray, lte, sql } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import type { SqlStatement } from '../database/pglite-worker';
import { policyUsage } from '../database/schema';

/** What a key or a team (`key:<id>`, `team:<id>`) spent on one day. */
export interface PolicyUsageEntry {
  readonly subject: string;
  readonly day: string;
  readonly tokens: number;
  readonly costNanos: number;
}

export interface SpendTotals {
  todayTokens: number;
  monthTokens: number;
  todayNanos: number;
  monthNanos: number;
}

const ADD_POLICY_USAGE = `INSERT INTO policy_usage (subject, day, tokens, cost_nanos, requests)
  VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (subject, day) DO UPDATE SET
    tokens = policy_usage.tokens + excluded.tokens,
    cost_nanos = policy_usage.cost_nanos + excluded.cost_nanos,
    requests = policy_usage.requests + excluded.requests`;

/**
 * Per-key and per-team spend by UTC day: where key and team budgets start from on a fresh
 * instance (or a fresh Redis key) and what owners see as a key's spend. Written by the same
 * batched settlement as `chat_usage` (the usage ledger), so the three always agree.
 */
@Injectable()
export class PolicyUsageRepository {
  constructor(private readonly database: DatabaseService) {}

  async add(entry: PolicyUsageEntry, requests: number): Promise<void> {
    const statement = this.addStatement(entry, requests);
    await this.database.run(statement.sql, statement.params);
  }

  /** The upsert of `add`, for a caller that runs it inside its own transaction. */
  addStatement(entry: PolicyUsageEntry, requests: number): SqlStatement {
    return {
      sql: ADD_POLICY_USAGE,
      params: [entry.subject, entry.day, entry.tokens, entry.costNanos, requests],
    };
  }

  /** Tokens and nano-USD spent between two days (inclusive). */
  async total(
    subject: string,
    fromDay: string,
    toDay: string,
  ): Promise<{ tokens: number; costNanos: number }> {
    const [row] = await this.database.db
      .select({
        tokens: sql<string | null>`sum(${policyUsage.tokens})`,
        costNanos: sql<string | null>`sum(${policyUsage.costNanos})`,
      })
      .from(policyUsage)
      .where(
        and(
          eq(policyUsage.subject, subject),
          gte(policyUsage.day, fromDay),
          lte(policyUsage.day, toDay),
        ),
      );
    return { tokens: Number(row?.tokens ?? 0), costNanos: Number(row?.costNanos ?? 0) };
  }

  /** Today's and this month's spend of each subject (absent: nothing spent). */
  async spend(subjects: string[], today: string): Promise<Map<string, SpendTotals>> {
    const result = new Map<string, SpendTotals>();
    if (subjects.length === 0) return result;
    const rows = await this.database.db
      .select({
        subject: policyUsage.subject,
        todayTokens: sql<string>`coalesce(sum(${policyUsage.tokens}) filter (where ${policyUsage.day} = ${today}), 0)`,
        monthTokens: sql<string>`coalesce(sum(${policyUsage.tokens}), 0)`,
        todayNanos: sql<string>`coalesce(sum(${policyUsage.costNanos}) filter (where ${policyUsage.day} = ${today}), 0)`,
        monthNanos: sql<string>`coalesce(sum(${policyUsage.costNanos}), 0)`,
      })
      .from(policyUsage)
      .where(
        and(
          inArray(policyUsage.subject, subjects),
          gte(policyUsage.day, monthStart(today)),
          lte(policyUsage.day, today),
        ),
      )
      .groupBy(policyUsage.subject);
    for (const row of rows) {
      result.set(row.subject, {
        todayTokens: Number(row.todayTokens),
        monthTokens: Number(row.monthTokens),
        todayNanos: Number(row.todayNanos),
        monthNanos: Number(row.monthNanos),
      });
    }
    return result;
  }
}

/** The first day of the UTC month of `day` (`YYYY-MM-01`). */
export function monthStart(day: string): string {
  return `${day.slice(0, 7)}-01`;
}
