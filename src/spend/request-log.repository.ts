import { Injectable } from '@nestjs/common';
import { DatabaseService } from '../database/database.service';
import type { CallContent } from './call-record';
import type { SpendBucket, SpendGroup } from './dto/request-log.dto';
import type { RequestLogEntry } from './request-log.writer';

export interface RequestLogFilter {
  readonly userId?: string;
  readonly keyId?: string;
  readonly teamId?: string;
  readonly model?: string;
  readonly status?: string;
  readonly since?: Date;
  readonly until?: Date;
}

/** A request-log row as read back, with the user's name when the user is local. */
export interface StoredRequest extends Omit<RequestLogEntry, 'content'> {
  readonly id: number;
  readonly username: string | null;
  readonly content: CallContent | null;
}

export interface SpendRow {
  readonly key: string;
  readonly bucketStart: Date;
  readonly requests: number;
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly completionTokens: number;
  readonly reasoningTokens: number;
  readonly costNanos: number;
}

interface RawRequest {
  id: string | number;
  time_ms: string | number;
  request_id: string;
  user_id: string;
  username: string | null;
  key_id: string | null;
  team_id: string | null;
  route: string;
  model: string;
  status: string;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  cost_nanos: string | number;
  keyward_ms: number;
  upstream_ms: number;
  ttft_ms: number | null;
  stream: boolean;
  content: CallContent | string | null;
}

const GROUP_COLUMNS: Record<SpendGroup, string> = {
  team: 'team_id',
  user: 'user_id',
  model: 'model',
  key: 'key_id',
};

/** Reads of the request log: filtered pages (newest `time` first), all rows (CSV), spend series. */
@Injectable()
export class RequestLogRepository {
  constructor(private readonly database: DatabaseService) {}

  /**
   * One page, newest first by the call's `time` (then id), `before` the id of the previous
   * page's last row. Rows are written in batches, by several instances, and a long stream is
   * written when it ends, so ids are write order, not call order. Keyset pagination on
   * (time, id), the cursor row's time read back by id: a page costs the same however deep it
   * is, and the cursor stays an id. A cursor whose row was pruned gives an empty page
   * (retention removes the oldest rows, so nothing older is left to show).
   */
  async page(filter: RequestLogFilter, limit: number, before?: number): Promise<StoredRequest[]> {
    const { where, params } = whereClause(filter);
    if (before !== undefined) {
      params.push(before);
      where.push(
        `(r.time, r.id) < (SELECT c.time, c.id FROM request_log c WHERE c.id = $${params.length})`,
      );
    }
    params.push(limit);
    const rows = await this.database.query<RawRequest>(
      `SELECT r.id, (extract(epoch from r.time) * 1000)::float8 AS time_ms, r.request_id,
              r.user_id, u.username, r.key_id, r.team_id, r.route, r.model, r.status,
              r.prompt_tokens, r.cached_tokens, r.completion_tokens, r.reasoning_tokens,
              r.cost_nanos, r.keyward_ms, r.upstream_ms, r.ttft_ms, r.stream, r.content
         FROM request_log r
         LEFT JOIN users u ON u.id::text = r.user_id
        ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY r.time DESC, r.id DESC
        LIMIT $${params.length}`,
      params,
    );
    return rows.map(toStored);
  }

  /** Every matching row, newest first, a page at a time (the CSV export streams this). */
  async *all(filter: RequestLogFilter, pageSize = 1000): AsyncGenerator<StoredRequest> {
    let before: number | undefined;
    for (;;) {
      const rows = await this.page(filter, pageSize, before);
      yield* rows;
      if (rows.length < pageSize) return;
      before = rows[rows.length - 1].id;
    }
  }

  /** Sums per group and bucket (UTC), in [since, until). */
  async spend(
    groupBy: SpendGroup,
    bucket: SpendBucket,
    since: Date,
    until: Date,
    teamId?: string,
  ): Promise<SpendRow[]> {
    const column = GROUP_COLUMNS[groupBy];
    const params: unknown[] = [bucket, since.toISOString(), until.toISOString()];
    let team = '';
    if (teamId !== undefined) {
      params.push(teamId);
      team = `AND team_id = $${params.length}`;
    }
    const rows = await this.database.query<Record<string, string | number | null>>(
      `SELECT coalesce(${column}, 'none') AS key,
              (extract(epoch from date_trunc($1, time AT TIME ZONE 'UTC')) * 1000)::float8 AS t_ms,
              count(*)::int AS requests,
              sum(prompt_tokens)::bigint AS prompt_tokens,
              sum(cached_tokens)::bigint AS cached_tokens,
              sum(completion_tokens)::bigint AS completion_tokens,
              sum(reasoning_tokens)::bigint AS reasoning_tokens,
              sum(cost_nanos)::bigint AS cost_nanos
         FROM request_log
        WHERE time >= $2 AND time < $3 ${team}
        GROUP BY 1, 2
        ORDER BY 1, 2`,
      params,
    );
    return rows.map((row) => ({
      key: String(row.key),
      bucketStart: new Date(Number(row.t_ms)),
      requests: Number(row.requests),
      promptTokens: Number(row.prompt_tokens),
      cachedTokens: Number(row.cached_tokens),
      completionTokens: Number(row.completion_tokens),
      reasoningTokens: Number(row.reasoning_tokens),
      costNanos: Number(row.cost_nanos),
    }));
  }

  /** Usernames of local users among `ids` (others are external principals: no name). */
  async usernames(ids: readonly string[]): Promise<Map<string, string>> {
    return this.names('SELECT id::text AS id, username AS name FROM users', ids);
  }

  async keyNames(ids: readonly string[]): Promise<Map<string, string>> {
    return this.names('SELECT id::text AS id, name FROM api_keys', ids);
  }

  private async names(select: string, ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.database.query<{ id: string; name: string }>(
      `${select} WHERE id::text = ANY($1::text[])`,
      [ids],
    );
    return new Map(rows.map((row) => [row.id, row.name]));
  }
}

function whereClause(filter: RequestLogFilter): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (column: string, op: string, value: unknown) => {
    if (value === undefined) return;
    params.push(value);
    where.push(`r.${column} ${op} $${params.length}`);
  };
  add('user_id', '=', filter.userId);
  add('key_id', '=', filter.keyId);
  add('team_id', '=', filter.teamId);
  add('model', '=', filter.model);
  add('status', '=', filter.status);
  add('time', '>=', filter.since?.toISOString());
  add('time', '<', filter.until?.toISOString());
  return { where, params };
}

function toStored(row: RawRequest): StoredRequest {
  return {
    id: Number(row.id),
    time: new Date(Number(row.time_ms)),
    requestId: row.request_id,
    userId: row.user_id,
    username: row.username,
    keyId: row.key_id,
    teamId: row.team_id,
    route: row.route,
    model: row.model,
    status: row.status,
    promptTokens: Number(row.prompt_tokens),
    cachedTokens: Number(row.cached_tokens),
    completionTokens: Number(row.completion_tokens),
    reasoningTokens: Number(row.reasoning_tokens),
    costNanos: Number(row.cost_nanos),
    keywardMs: Number(row.keyward_ms),
    upstreamMs: Number(row.upstream_ms),
    ttftMs: row.ttft_ms === null ? null : Number(row.ttft_ms),
    stream: row.stream,
    content:
      typeof row.content === 'string' ? (JSON.parse(row.content) as CallContent) : row.content,
  };
}
