import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PolicyUsageRepository } from './policy-usage.repository';
import type { SettleUrgency, UsageLedger, UsageSettlement } from './usage-ledger';
import type { UsageRepository } from './usage.repository';
import { UsageSums } from './usage-sums';

const PERSIST_ATTEMPTS = 3;
/**
 * How long a settlement whose client already has its whole answer (a finished stream) may
 * wait for company before its usage write: one write then carries several requests. Its
 * reservation is held meanwhile, so the budget only looks smaller, never larger.
 */
export const RELAXED_WRITE_DELAY_MS = 25;

/**
 * Usage written straight to the tables, group-committed (the ledger on PostgreSQL, and the
 * embedded database's fallback when its journal cannot be appended to): settlements that
 * arrive in the same event-loop turn, or while a write is in flight, are summed per
 * (user, day, model) and per (key or team, day) and go out as one upsert each, and each
 * settlement waits for the write that holds it. An urgent settlement (a non-streamed answer
 * waits for it: what was acknowledged is recorded) is written after a `setImmediate`; a
 * relaxed one (a stream already ended) waits up to RELAXED_WRITE_DELAY_MS for others, unless
 * an urgent one starts the write sooner.
 */
export class DirectUsageLedger implements UsageLedger, OnApplicationShutdown {
  private readonly logger = new Logger(DirectUsageLedger.name);
  private pending = new UsageSums();
  /** Settlements in `pending`, each resolved once the write holding it is done (or given up). */
  private waiting: Array<() => void> = [];
  private writing?: Promise<void>;
  /** A relaxed write waiting for company; an urgent settlement starts it at once. */
  private delayed?: { timer: NodeJS.Timeout; start: () => void };

  constructor(
    private readonly usage: Pick<UsageRepository, 'add'>,
    /** Per-key and per-team spend; absent in unit tests that only look at `chat_usage`. */
    private readonly policyUsage?: Pick<PolicyUsageRepository, 'add'>,
  ) {}

  record(settlement: UsageSettlement, urgency: SettleUrgency): Promise<void> {
    this.pending.add(settlement);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.scheduleWrite(urgency);
    });
  }

  /**
   * Writes what is pending now and waits for it (another instance's pending write shows
   * within RELAXED_WRITE_DELAY_MS).
   */
  async flush(): Promise<void> {
    this.delayed?.start();
    // The write in flight (or just started) loops until nothing pending is left, so it
    // covers every settlement made before this call; later ones are not waited for.
    await this.writing;
  }

  /** Shutdown: relaxed settlements still waiting for company are written before the database closes. */
  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  /** A write in flight picks up what is pending when it is done; otherwise one is started. */
  private scheduleWrite(urgency: SettleUrgency): void {
    if (this.delayed) {
      if (urgency === 'urgent') this.delayed.start();
      return;
    }
    if (this.writing) return;
    const started = new Promise<void>((start) => {
      if (urgency === 'urgent') {
        setImmediate(start);
        return;
      }
      const begin = () => {
        clearTimeout(timer);
        this.delayed = undefined;
        setImmediate(start);
      };
      const timer = setTimeout(begin, RELAXED_WRITE_DELAY_MS);
      this.delayed = { timer, start: begin };
    });
    this.writing = started
      .then(() => this.writePending())
      .finally(() => (this.writing = undefined));
  }

  /** Writes what is pending, then what arrived meanwhile, until nothing is left. */
  private async writePending(): Promise<void> {
    while (this.pending.records > 0) {
      const { usage, policy } = this.pending;
      const waiting = this.waiting;
      this.pending = new UsageSums();
      this.waiting = [];
      // A settlement is released once its user row and its key's and team's rows are written.
      await Promise.all([
        ...[...usage.values()].map(({ entry, requests }) =>
          this.write('usage', { ...entry, requests }, () => this.usage.add(entry, requests)),
        ),
        ...[...policy.values()].map(({ entry, requests }) =>
          this.write('key/team usage', { ...entry, requests }, () =>
            this.policyUsage ? this.policyUsage.add(entry, requests) : Promise.resolve(),
          ),
        ),
      ]);
      for (const resolve of waiting) resolve();
    }
  }

  private async write(
    what: string,
    record: Record<string, unknown>,
    add: () => Promise<void>,
  ): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await add();
        return;
      } catch (error) {
        if (attempt >= PERSIST_ATTEMPTS) {
          // The in-process counter still holds the tokens, so the budget stays hard here;
          // the line carries what is needed to reconcile the table by hand.
          this.logger.error(
            `${what} not recorded after ${attempt} attempts: ${JSON.stringify({ ...record, error: (error as Error).message })}`,
          );
          return;
        }
        await sleep(50 * attempt);
      }
    }
  }
}
