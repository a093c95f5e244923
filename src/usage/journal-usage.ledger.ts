import { join } from 'node:path';
import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { DatabaseService } from '../database/database.service';
import type { SqlStatement } from '../database/pglite-worker';
import { DirectUsageLedger } from './direct-usage.ledger';
import type { PolicyUsageRepository } from './policy-usage.repository';
import type { SettleUrgency, UsageLedger, UsageSettlement } from './usage-ledger';
import { USAGE_JOURNAL_DIR, UsageJournal } from './usage-journal';
import type { UsageRepository } from './usage.repository';
import { UsageSums } from './usage-sums';

/** Records waiting that start an apply at once. */
export const JOURNAL_APPLY_RECORDS = 1000;
/** After a failed apply, the next attempt waits this long. */
const RETRY_DELAY_MS = 1000;
/** At most one "append failed" line per this interval. */
const APPEND_FAILURE_LOG_MS = 60_000;

/** `journal_watermarks` row of this journal: the last record applied, never lowered. */
const WATERMARK = 'usage';
const SET_WATERMARK = `INSERT INTO journal_watermarks (journal, applied_seq) VALUES ($1, $2)
  ON CONFLICT (journal) DO UPDATE SET applied_seq = excluded.applied_seq, updated_at = now()
  WHERE journal_watermarks.applied_seq < excluded.applied_seq`;
const GET_WATERMARK = 'SELECT applied_seq FROM journal_watermarks WHERE journal = $1';

/** Journal records not yet applied, summed per row, with the last record's sequence number. */
class Batch extends UsageSums {
  /** The highest sequence number in the batch (records are added in order). */
  lastSeq = 0;

  addRecord(settlement: UsageSettlement, seq: number): void {
    this.add(settlement);
    this.lastSeq = Math.max(this.lastSeq, seq);
  }

  override merge(other: Batch): void {
    super.merge(other);
    this.lastSeq = Math.max(this.lastSeq, other.lastSeq);
  }
}

/** What `replay` did with the journal it found. */
export interface JournalReplay {
  /** Records past the watermark, now in the tables. */
  readonly applied: number;
  /** Records at or below the watermark: already in the tables, skipped. */
  readonly skipped: number;
  /** Bytes of a cut-short last write, ignored. */
  readonly tornBytes: number;
}

/** The log line of a replay (`when`: e.g. " at start"), for the server and the CLI alike. */
export function describeReplay(replay: JournalReplay, when = ''): string {
  const torn =
    replay.tornBytes > 0 ? `, ${replay.tornBytes} byte(s) of a cut-short last write ignored` : '';
  return `usage journal: ${replay.applied} record(s) applied${when}, ${replay.skipped} already applied${torn}`;
}

/**
 * The embedded database's usage ledger (docs/database.md "The usage journal"). A settlement
 * is appended to the journal in `DATA_DIR/usage-journal` (a synchronous write: no database
 * round trip before the answer), then applied to `chat_usage` and `policy_usage` off the hot
 * path: every USAGE_JOURNAL_APPLY_MS (or at JOURNAL_APPLY_RECORDS records), one transaction
 * per batch with one upsert per row, and the journal's watermark (its last applied record)
 * written in that same transaction. At start, before the API serves, records past the
 * watermark are applied; the journal is then emptied. So each record is applied exactly once,
 * whether the process stopped cleanly, was killed between append and apply, or during an apply.
 *
 * A settlement that cannot be appended (disk full) goes to `fallback`, the direct
 * group-committed write PostgreSQL uses, and is acknowledged only once that is committed.
 */
export class JournalUsageLedger implements UsageLedger, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(JournalUsageLedger.name);
  private pending = new Batch();
  private applying?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private lastApplyFailed = false;
  private closed = false;
  private appendFailures = 0;
  private lastAppendFailureLog = 0;

  constructor(
    private readonly journal: UsageJournal,
    private readonly database: Pick<DatabaseService, 'runInTransaction' | 'query'>,
    private readonly usage: Pick<UsageRepository, 'addStatement'>,
    private readonly policyUsage: Pick<PolicyUsageRepository, 'addStatement'>,
    private readonly fallback: UsageLedger,
    /** How long appended records wait to be applied together (USAGE_JOURNAL_APPLY_MS). */
    private readonly applyDelayMs: number,
  ) {}

  /** Start: applies what the journal holds past the watermark, then empties the journal. */
  async onModuleInit(): Promise<void> {
    const replay = await this.replay();
    if (replay.applied + replay.skipped > 0 || replay.tornBytes > 0) {
      this.logger.log(describeReplay(replay, ' at start'));
    }
  }

  /**
   * Applies the records past the watermark in one transaction, then deletes the segments and
   * goes on numbering after the highest number seen. Run at start, and by
   * `npm run cli -- journal apply` (docs/database.md "The usage journal").
   */
  async replay(): Promise<JournalReplay> {
    const found = this.journal.read();
    const [row] = await this.database.query<{ applied_seq: string | number }>(GET_WATERMARK, [
      WATERMARK,
    ]);
    const watermark = Number(row?.applied_seq ?? 0);
    const replay = new Batch();
    let skipped = 0;
    for (const record of found.records) {
      if (record.seq <= watermark) skipped += 1;
      else replay.addRecord(record, record.seq);
    }
    if (replay.records > 0) await this.database.runInTransaction(this.statements(replay));
    this.journal.start(Math.max(watermark, found.lastSeq) + 1);
    return { applied: replay.records, skipped, tornBytes: found.tornBytes };
  }

  record(settlement: UsageSettlement, urgency: SettleUrgency): Promise<void> {
    if (!this.closed) {
      let seq: number | undefined;
      try {
        seq = this.journal.append(settlement);
      } catch (error) {
        this.appendFailed(error as Error);
      }
      if (seq !== undefined) {
        this.pending.addRecord(settlement, seq);
        this.schedule();
        return Promise.resolve();
      }
    }
    return this.fallback.record(settlement, urgency);
  }

  /**
   * Applies every record appended before this call, and writes the fallback's pending rows.
   * A failed apply is logged, not thrown: its records stay in the journal and are retried
   * (the report that asked reads the tables as they are).
   */
  async flush(): Promise<void> {
    await Promise.all([this.applyPending(), this.fallback.flush()]);
  }

  /** Shutdown (the HTTP server has closed): everything is applied before the database closes. */
  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    const left = this.pending.records;
    // Fully applied: nothing to replay at the next start.
    this.journal.close(left === 0 && !this.lastApplyFailed);
    if (left > 0) {
      this.logger.warn(
        `usage journal: ${left} record(s) not applied at shutdown; the next start applies them`,
      );
    }
  }

  private async applyPending(): Promise<void> {
    // The apply in flight holds a prefix of what was appended; one more takes the rest.
    if (this.applying) await this.applying;
    if (this.pending.records > 0) this.startApply();
    await this.applying;
  }

  private schedule(): void {
    if (this.applying || this.closed) return;
    if (this.pending.records >= JOURNAL_APPLY_RECORDS) this.startApply();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.startApply(), this.applyDelayMs);
      this.timer.unref();
    }
  }

  private startApply(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.applying || this.pending.records === 0) return;
    const batch = this.pending;
    this.pending = new Batch();
    this.applying = this.apply(batch).finally(() => {
      this.applying = undefined;
      if (this.pending.records === 0 || this.closed) return;
      if (this.lastApplyFailed) {
        this.timer = setTimeout(() => this.startApply(), RETRY_DELAY_MS);
        this.timer.unref();
      } else this.schedule();
    });
  }

  /** Never rejects: a failed batch goes back in front of what came since. */
  private async apply(batch: Batch): Promise<void> {
    try {
      await this.database.runInTransaction(this.statements(batch));
      this.lastApplyFailed = false;
      this.journal.release(batch.lastSeq);
    } catch (error) {
      if (!this.lastApplyFailed) {
        this.logger.error(
          `usage journal: applying ${batch.records} record(s) failed, retrying: ${(error as Error).message}`,
        );
      }
      this.lastApplyFailed = true;
      batch.merge(this.pending);
      this.pending = batch;
    }
  }

  /** One upsert per row, then the watermark: one transaction. */
  private statements(batch: Batch): SqlStatement[] {
    const statements: SqlStatement[] = [];
    for (const { entry, requests } of batch.usage.values())
      statements.push(this.usage.addStatement(entry, requests));
    for (const { entry, requests } of batch.policy.values())
      statements.push(this.policyUsage.addStatement(entry, requests));
    statements.push({ sql: SET_WATERMARK, params: [WATERMARK, batch.lastSeq] });
    return statements;
  }

  private appendFailed(error: Error): void {
    this.appendFailures += 1;
    const now = Date.now();
    if (now - this.lastAppendFailureLog < APPEND_FAILURE_LOG_MS) return;
    this.lastAppendFailureLog = now;
    this.logger.error(
      `usage journal: append failed (${this.appendFailures} so far), usage written directly: ${error.message}`,
    );
  }
}

/**
 * The ledger over `DATA_DIR/usage-journal`: the embedded database's, and the one
 * `npm run cli -- journal apply` replays into either database. Appends that fail (disk full)
 * go to the direct write PostgreSQL uses.
 */
export function journalUsageLedger(
  dataDir: string,
  database: DatabaseService,
  usage: UsageRepository,
  policyUsage: PolicyUsageRepository,
  applyDelayMs: number,
): JournalUsageLedger {
  return new JournalUsageLedger(
    new UsageJournal(join(dataDir, USAGE_JOURNAL_DIR)),
    database,
    usage,
    policyUsage,
    new DirectUsageLedger(usage, policyUsage),
    applyDelayMs,
  );
}
