import type { PolicyUsageEntry } from './policy-usage.repository';
import type { UsageEntry } from './usage.repository';

/** `urgent`: someone waits for the write (a non-streamed answer is sent after it). */
export type SettleUrgency = 'urgent' | 'relaxed';

/** What one settled call adds: the user's usage row and its key's and team's spend rows. */
export interface UsageSettlement {
  readonly usage: UsageEntry;
  readonly policy: readonly PolicyUsageEntry[];
}

/**
 * Where settled usage is recorded (`chat_usage` and `policy_usage`). Two implementations,
 * chosen by the database (docs/database.md "Usage writes"):
 *
 * - PostgreSQL: `DirectUsageLedger`, group-committed upserts; `record` resolves once they
 *   are committed.
 * - The embedded database: `JournalUsageLedger`, a synchronous append to a journal file in
 *   `DATA_DIR`; `record` resolves once the line is written, and the journal is applied to
 *   the tables in batches off the hot path.
 *
 * Either way, once `record` resolves the usage survives the process being killed: what was
 * acknowledged is recorded.
 */
export interface UsageLedger {
  /** Records a settlement durably; never rejects (a failure is logged with the figures). */
  record(settlement: UsageSettlement, urgency: SettleUrgency): Promise<void>;
  /**
   * Puts everything recorded before this call into the tables, then resolves: usage reports
   * and budget counters read after it (read-your-writes on this instance).
   */
  flush(): Promise<void>;
}

export const USAGE_LEDGER = Symbol('USAGE_LEDGER');
