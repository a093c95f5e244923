import { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { DomainError } from '../common/domain-error';
import { usdFromNanos } from '../pricing/pricing.service';
import { csvLine } from './csv';
import type {
  RequestLogFilterDto,
  RequestLogPageDto,
  RequestLogQueryDto,
  RequestRowDto,
  SpendQueryDto,
  SpendReportDto,
  SpendSeriesDto,
} from './dto/request-log.dto';
import {
  type RequestLogFilter,
  RequestLogRepository,
  type StoredRequest,
} from './request-log.repository';
import { RequestLogWriter } from './request-log.writer';
import { TEAM_LOOKUP, type TeamLookup } from './team-lookup';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** The longest span a spend report covers: bounded work and payload. */
const MAX_SPAN_MS = { day: 366 * DAY_MS, hour: 31 * DAY_MS } as const;
const DEFAULT_SPAN_MS = { day: 30 * DAY_MS, hour: DAY_MS } as const;

/** The CSV export's columns: the fields of a request-log row, in this order, then its content. */
const CSV_FIELDS = [
  'id',
  'time',
  'requestId',
  'userId',
  'username',
  'keyId',
  'teamId',
  'route',
  'model',
  'status',
  'promptTokens',
  'cachedTokens',
  'completionTokens',
  'reasoningTokens',
  'costUsd',
  'keywardMs',
  'upstreamMs',
  'ttftMs',
  'stream',
] as const satisfies readonly Exclude<keyof RequestRowDto, 'content'>[];
const CSV_HEADER = [...CSV_FIELDS, 'prompt', 'completion'];

function invalid(field: string, message: string): DomainError {
  return new DomainError('validation_failed', message, { errors: [{ field, message }] });
}

function instant(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw invalid(field, `${field} must be an ISO 8601 instant`);
  return date;
}

/** The request log and spend reports (docs/request-log.md), for admins or one team. */
@Injectable()
export class SpendService {
  constructor(
    private readonly repository: RequestLogRepository,
    private readonly writer: RequestLogWriter,
    @Inject(TEAM_LOOKUP) private readonly teams: TeamLookup,
  ) {}

  async requests(query: RequestLogQueryDto, teamId?: string): Promise<RequestLogPageDto> {
    const limit = query.limit ?? 100;
    // Rows still in the write buffer of this instance are written first: a page includes them.
    await this.writer.flush();
    const rows = await this.repository.page(
      this.filter(query, teamId),
      limit + 1,
      query.cursor === undefined ? undefined : Number(query.cursor),
    );
    const page = rows.slice(0, limit);
    return {
      requests: page.map(toRow),
      nextCursor: rows.length > limit ? String(page[page.length - 1].id) : null,
    };
  }

  /** Every matching row as CSV, streamed page by page (no cursor, no limit). */
  async csv(query: RequestLogFilterDto, teamId?: string): Promise<Readable> {
    await this.writer.flush();
    const rows = this.repository.all(this.filter(query, teamId));
    async function* lines() {
      yield csvLine(CSV_HEADER);
      for await (const stored of rows) {
        const row = toRow(stored);
        yield csvLine([
          ...CSV_FIELDS.map((field) => row[field]),
          row.content?.prompt,
          row.content?.completion,
        ]);
      }
    }
    return Readable.from(lines());
  }

  async spend(query: SpendQueryDto, teamId?: string): Promise<SpendReportDto> {
    const groupBy = query.groupBy ?? 'team';
    const bucket = query.bucket ?? 'day';
    if (teamId !== undefined && groupBy === 'team') {
      throw invalid('groupBy', 'groupBy must be user, model or key for one team');
    }
    const until = instant(query.until, 'until') ?? new Date();
    const since =
      instant(query.since, 'since') ?? new Date(until.getTime() - DEFAULT_SPAN_MS[bucket]);
    if (since.getTime() >= until.getTime()) throw invalid('since', 'since must be before until');
    if (until.getTime() - since.getTime() > MAX_SPAN_MS[bucket]) {
      throw invalid(
        'since',
        `since..until may span at most ${bucket === 'day' ? '366 days' : '31 days'} with ${bucket} buckets`,
      );
    }
    await this.writer.flush();
    const rows = await this.repository.spend(groupBy, bucket, since, until, teamId);
    const keys = [...new Set(rows.map((row) => row.key))];
    const labels = await this.labels(
      groupBy,
      keys.filter((key) => key !== 'none'),
    );
    const series = new Map<string, SpendSeriesDto>();
    for (const row of rows) {
      let entry = series.get(row.key);
      if (!entry) {
        entry = { key: row.key, label: labels.get(row.key) ?? row.key, points: [] };
        series.set(row.key, entry);
      }
      entry.points.push({
        t: row.bucketStart.toISOString(),
        requests: row.requests,
        promptTokens: row.promptTokens,
        cachedTokens: row.cachedTokens,
        completionTokens: row.completionTokens,
        reasoningTokens: row.reasoningTokens,
        costUsd: usdFromNanos(row.costNanos),
      });
    }
    return {
      groupBy,
      bucket,
      since: since.toISOString(),
      until: until.toISOString(),
      series: [...series.values()],
    };
  }

  private labels(groupBy: string, keys: string[]): Promise<Map<string, string>> {
    switch (groupBy) {
      case 'team':
        return this.teams.names(keys);
      case 'user':
        return this.repository.usernames(keys);
      case 'key':
        return this.repository.keyNames(keys);
      default:
        return Promise.resolve(new Map(keys.map((key) => [key, key])));
    }
  }

  /** The query's filters; a team-scoped route pins the team (its own filter is overridden). */
  private filter(query: RequestLogFilterDto, teamId?: string): RequestLogFilter {
    const since = instant(query.since, 'since');
    const until = instant(query.until, 'until');
    return {
      userId: query.userId,
      keyId: query.keyId,
      teamId: teamId ?? query.teamId,
      model: query.model,
      status: query.status,
      since,
      until,
    };
  }
}

function toRow(row: StoredRequest): RequestRowDto {
  return {
    id: String(row.id),
    time: row.time.toISOString(),
    requestId: row.requestId,
    userId: row.userId,
    ...(row.username === null ? {} : { username: row.username }),
    keyId: row.keyId,
    teamId: row.teamId,
    route: row.route,
    model: row.model,
    status: row.status,
    promptTokens: row.promptTokens,
    cachedTokens: row.cachedTokens,
    completionTokens: row.completionTokens,
    reasoningTokens: row.reasoningTokens,
    costUsd: usdFromNanos(row.costNanos),
    keywardMs: row.keywardMs,
    upstreamMs: row.upstreamMs,
    ttftMs: row.ttftMs,
    stream: row.stream,
    ...(row.content === null ? {} : { content: row.content }),
  };
}
