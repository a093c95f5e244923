import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { PeriodicTask, untilShortBatch } from '../common/periodic-task';
import type { KeywardConfig } from '../config/configuration';
import type { RequestLogConfig } from '../config/request-log.config';
import { DatabaseService } from '../database/database.service';
import { type CallMetrics, MetricsService } from '../metrics/metrics.service';
import type { CallContent } from './call-record';
import { redact } from './redaction';
import { TEAM_LOOKUP, type TeamLookup } from './team-lookup';

/**
 * One upstream call, as the request log stores it (docs/request-log.md): the figures the
 * metrics count, and who, where and when.
 */
export interface RequestLogEntry extends CallMetrics {
  readonly time: Date;
  readonly requestId: string;
  readonly userId: string;
  readonly keyId: string | null;
  readonly route: string;
  readonly keywardMs: number;
  readonly stream: boolean;
  /** Read (and redacted) only when the team logs content. */
  readonly content?: () => CallContent;
}

/** The columns a row fills, with their PostgreSQL types (each goes as one array parameter). */
const COLUMNS = {
  time: 'timestamptz',
  request_id: 'text',
  user_id: 'text',
  key_id: 'text',
  team_id: 'text',
  route: 'text',
  model: 'text',
  status: 'text',
  prompt_tokens: 'int4',
  cached_tokens: 'int4',
  completion_tokens: 'int4',
  reasoning_tokens: 'int4',
  cost_nanos: 'int8',
  keyward_ms: 'int4',
  upstream_ms: 'int4',
  ttft_ms: 'int4',
  stream: 'bool',
  content: 'jsonb',
} as const;
const COLUMN_NAMES = Object.keys(COLUMNS);

/**
 * A batch is one statement whose text never changes: each column's values as one array,
 * unnested into rows. A `VALUES` list (18 parameters a row) was a new statement for every
 * batch size, parsed and planned each time: on PGlite, ~45 µs of database CPU a row against
 * ~30 µs this way (300-row batches; bench/NOTES.md, issue 15).
 */
const INSERT_ROWS = `INSERT INTO request_log (${COLUMN_NAMES.join(', ')})
  SELECT * FROM unnest(${Object.values(COLUMNS)
    .map((type, index) => `$${index + 1}::${type}[]`)
    .join(', ')})`;

/** Content longer than this (per side) is cut: the log is not an archive of whole documents. */
const MAX_CONTENT_CHARS = 32_768;
/** Rows deleted per statement when pruning: short transactions, no long locks. */
const PRUNE_BATCH = 5000;
/** At most one "rows dropped" line per this interval. */
const DROP_LOG_EVERY_MS = 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Writes the request log off the hot path: `add` only appends to a buffer; a flush every
 * REQUEST_LOG_FLUSH_MS (or at REQUEST_LOG_BATCH_ROWS rows) writes the buffer as one multi-row
 * INSERT, and the buffer is flushed at shutdown. The buffer is bounded (REQUEST_LOG_MAX_BUFFER):
 * while the database is down rows wait and are retried, and once the buffer is full new rows
 * are dropped, counted (`keyward_request_log_dropped_total`) and logged — memory never grows
 * without bound, and the usage table (written separately) still holds the spend.
 *
 * Pruning runs hourly on every instance (a PeriodicTask): deletes in batches of rows older than
 * REQUEST_LOG_DAYS, clears content older than REQUEST_LOG_CONTENT_DAYS. `FOR UPDATE SKIP LOCKED`
 * lets instances prune at the same time without waiting on each other; a row deleted twice is
 * deleted once.
 */
@Injectable()
export class RequestLogWriter implements OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger(RequestLogWriter.name);
  private readonly config: RequestLogConfig;
  private buffer: RequestLogEntry[] = [];
  private timer?: NodeJS.Timeout;
  private readonly pruning = new PeriodicTask(
    'request log prune',
    () => this.prune(),
    (message) => this.logger.warn(message),
  );
  private writing?: Promise<void>;
  private droppedSinceLog = 0;
  private lastDropLog = 0;
  /** Rows dropped since start (buffer full). */
  dropped = 0;
  /**
   * Content of buffered rows, decided when the row is queued: the call's request and answer
   * (the closure holds them) are released at once, and only a content-logging team's
   * redacted, capped text waits in the buffer.
   */
  private readonly contents = new WeakMap<RequestLogEntry, Promise<CallContent | null>>();

  constructor(
    config: ConfigService<KeywardConfig, true>,
    private readonly database: DatabaseService,
    private readonly metrics: MetricsService,
    @Inject(TEAM_LOOKUP) private readonly teams: TeamLookup,
  ) {
    this.config = config.get('requestLog', { infer: true });
  }

  onModuleInit(): void {
    this.pruning.start();
  }

  onModuleDestroy(): void {
    this.pruning.stop();
  }

  /**
   * Shutdown: what is buffered is written now; calls that are still finishing (streams the
   * HTTP server waits for) have their rows written at once, and their settlement waits for
   * the write (see `add`), so every row is in before the database closes.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    await this.flush();
  }

  private closing = false;

  /**
   * Queues a row; never throws. Returns nothing (nobody waits) except during shutdown, when it
   * returns the write that holds the row, for the settling call to wait on.
   */
  add(entry: RequestLogEntry): Promise<void> | undefined {
    if (this.buffer.length >= this.config.maxBuffer) {
      this.drop(1);
      return undefined;
    }
    const { content, ...row } = entry;
    if (content && entry.teamId !== null) {
      this.contents.set(
        row,
        this.contentOf(entry.teamId, content).catch(() => null),
      );
    }
    this.buffer.push(row);
    if (this.closing) return this.flush();
    if (this.buffer.length >= this.config.batchRows) this.startWrite();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.startWrite(), this.config.flushMs);
      this.timer.unref();
    }
    return undefined;
  }

  /** Writes everything queued so far and waits for it (tests, reports, shutdown). */
  async flush(): Promise<void> {
    // At most two writes, so a reader never waits on a busy instance's endless stream of rows:
    // the one in flight, then one of everything queued by now.
    if (this.writing) {
      await this.writing;
      // It failed and put its rows back: the database is down, do not hammer it.
      if (this.lastWriteFailed) return;
    }
    if (this.buffer.length === 0) return;
    this.startWrite();
    await this.writing;
  }

  private lastWriteFailed = false;

  private startWrite(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) return;
    this.writing = this.writeAll().finally(() => {
      this.writing = undefined;
      // Rows that came during the write, or were put back after a failure, go next time:
      // at once when a full batch waits (unless the database just failed), else after the interval.
      if (this.buffer.length > 0 && !this.timer) {
        const full = this.buffer.length >= this.config.batchRows && !this.lastWriteFailed;
        this.timer = setTimeout(() => this.startWrite(), full ? 0 : this.config.flushMs);
        this.timer.unref();
      }
    });
  }

  private async writeAll(): Promise<void> {
    this.lastWriteFailed = false;
    // The rows queued when the write starts; later ones go with the next write.
    let remaining = this.buffer.length;
    while (remaining > 0) {
      const batch = this.buffer.splice(0, Math.min(this.config.batchRows, remaining));
      remaining -= batch.length;
      try {
        await this.insert(batch);
      } catch (error) {
        this.lastWriteFailed = true;
        // Back in front, as far as the cap allows; the rest is dropped and counted.
        const room = Math.max(0, this.config.maxBuffer - this.buffer.length);
        const kept = batch.slice(0, room);
        if (batch.length > kept.length) this.drop(batch.length - kept.length);
        this.buffer = [...kept, ...this.buffer];
        this.logger.warn(`request log write failed, will retry: ${(error as Error).message}`);
        return;
      }
    }
  }

  private async insert(batch: readonly RequestLogEntry[]): Promise<void> {
    const columns: unknown[][] = COLUMN_NAMES.map(() => new Array<unknown>(batch.length));
    for (const [row, entry] of batch.entries()) {
      const pending = this.contents.get(entry);
      const content = pending ? await pending : null;
      const values = [
        entry.time.toISOString(),
        entry.requestId,
        entry.userId,
        entry.keyId,
        entry.teamId,
        entry.route,
        entry.model,
        entry.status,
        entry.promptTokens,
        entry.cachedTokens,
        entry.completionTokens,
        entry.reasoningTokens,
        entry.costNanos,
        entry.keywardMs,
        entry.upstreamMs,
        entry.ttftMs,
        entry.stream,
        content === null ? null : JSON.stringify(content),
      ];
      values.forEach((value, column) => (columns[column][row] = value));
    }
    await this.database.run(INSERT_ROWS, columns);
  }

  /** Redacted content for a team that logs it; null otherwise (and on any doubt). */
  private async contentOf(teamId: string, content: () => CallContent): Promise<CallContent | null> {
    const logs = await this.teams.logsContent(teamId).catch(() => false);
    if (!logs) return null;
    const { prompt, completion } = content();
    return {
      prompt: redact(prompt.slice(0, MAX_CONTENT_CHARS), this.config.redact),
      completion: redact(completion.slice(0, MAX_CONTENT_CHARS), this.config.redact),
    };
  }

  private drop(rows: number): void {
    this.dropped += rows;
    this.droppedSinceLog += rows;
    this.metrics.requestLogDropped.inc(rows);
    const now = Date.now();
    if (now - this.lastDropLog >= DROP_LOG_EVERY_MS) {
      this.logger.error(
        `request log buffer full (${this.config.maxBuffer} rows): ${this.droppedSinceLog} rows dropped`,
      );
      this.lastDropLog = now;
      this.droppedSinceLog = 0;
    }
  }

  /** Deletes expired rows and clears expired content, in batches. Returns the rows deleted. */
  async prune(now = new Date()): Promise<number> {
    const rowsBefore = new Date(now.getTime() - this.config.days * DAY_MS).toISOString();
    const contentBefore = new Date(now.getTime() - this.config.contentDays * DAY_MS).toISOString();
    const deleted = await untilShortBatch(
      () =>
        this.count(
          `WITH gone AS (DELETE FROM request_log WHERE id IN (
             SELECT id FROM request_log WHERE time < $1 LIMIT ${PRUNE_BATCH} FOR UPDATE SKIP LOCKED
           ) RETURNING 1) SELECT count(*)::int AS n FROM gone`,
          [rowsBefore],
        ),
      PRUNE_BATCH,
    );
    await untilShortBatch(
      () =>
        this.count(
          `WITH cleared AS (UPDATE request_log SET content = NULL WHERE id IN (
             SELECT id FROM request_log WHERE time < $1 AND content IS NOT NULL
             LIMIT ${PRUNE_BATCH} FOR UPDATE SKIP LOCKED
           ) RETURNING 1) SELECT count(*)::int AS n FROM cleared`,
          [contentBefore],
        ),
      PRUNE_BATCH,
    );
    return deleted;
  }

  private async count(text: string, params: unknown[]): Promise<number> {
    const rows = await this.database.query<{ n: number }>(text, params);
    return Number(rows[0]?.n ?? 0);
  }
}
