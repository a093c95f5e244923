import { Inject, Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BUDGET_STORE,
  type BudgetStore,
  type Reservation,
  type ReserveResult,
} from './budget-store';
import { type UsageEntry, UsageRepository } from './usage.repository';
import { utcDay } from './utc-day';

export interface TokenUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

const PERSIST_ATTEMPTS = 3;
/**
 * How long a settlement whose client already has its whole answer (a finished stream) may
 * wait for company before its usage write: one write then carries several requests. Its
 * reservation is held meanwhile, so the budget only looks smaller, never larger.
 */
export const RELAXED_WRITE_DELAY_MS = 25;

/** `urgent`: someone waits for the write (a non-streamed answer is sent after it). */
export type SettleUrgency = 'urgent' | 'relaxed';

/** Settlements of one (user, day, model) waiting for the next usage write, summed. */
interface PendingUsage {
  promptTokens: number;
  completionTokens: number;
  requests: number;
  readonly entry: Omit<UsageEntry, 'promptTokens' | 'completionTokens'>;
  /** Resolved once the write holding these settlements is done (or given up). */
  readonly written: Array<() => void>;
}

/**
 * Hard daily token budgets (docs/reference.md "Chat"): reserve the worst case before the upstream
 * call, settle to the real usage after it. Settlement writes the usage row first (the record of
 * what was spent), then releases the reservation, so a budget never looks larger than it is.
 *
 * Usage writes are group-committed: settlements that arrive in the same event-loop turn,
 * or while a write is in flight, are summed per (user, day, model) and go out as one
 * upsert, and each settlement still waits for the write that holds it. An urgent
 * settlement (a non-streamed answer waits for it: what was acknowledged is recorded) is
 * written after a `setImmediate`; a relaxed one (a stream already ended) waits up to
 * RELAXED_WRITE_DELAY_MS for others, unless an urgent one starts the write sooner. An
 * upsert on the embedded PGlite costs ~1 ms with its file writes (now on its worker thread,
 * docs/database.md): when it ran on the main thread, per-request upserts had capped chat
 * throughput near 200 requests/s on one core, and a write after every stream delayed the
 * next request on the connection.
 */
@Injectable()
export class BudgetService {
  private readonly logger = new Logger(BudgetService.name);
  private pending = new Map<string, PendingUsage>();
  private writing?: Promise<void>;
  /** A relaxed write waiting for company; an urgent settlement starts it at once. */
  private delayed?: { timer: NodeJS.Timeout; start: () => void };

  constructor(
    @Inject(BUDGET_STORE) private readonly store: BudgetStore,
    private readonly usage: UsageRepository,
  ) {}

  tryReserve(
    userId: string,
    limit: number,
    promptTokens: number,
    maxCompletionTokens: number,
  ): Promise<ReserveResult> {
    return this.store.reserve({ userId, day: utcDay(), limit, promptTokens, maxCompletionTokens });
  }

  /** Bills a finished request (any outcome) and frees its reservation. Never throws. */
  async settle(
    reservation: Reservation,
    model: string,
    used: TokenUsage,
    urgency: SettleUrgency = 'urgent',
  ): Promise<void> {
    const promptTokens = Math.max(0, Math.round(used.promptTokens));
    const completionTokens = Math.max(0, Math.round(used.completionTokens));
    await this.persist(
      {
        userId: reservation.userId,
        day: reservation.day,
        model,
        promptTokens,
        completionTokens,
      },
      urgency,
    );
    await this.store
      .settle(reservation, promptTokens + completionTokens)
      .catch((error: unknown) => {
        this.logger.error(`budget settle failed: ${(error as Error).message}`);
      });
  }

  private persist(entry: UsageEntry, urgency: SettleUrgency): Promise<void> {
    return new Promise((resolve) => {
      const key = `${entry.userId}\u0000${entry.day}\u0000${entry.model}`;
      let batch = this.pending.get(key);
      if (!batch) {
        batch = {
          entry: { userId: entry.userId, day: entry.day, model: entry.model },
          promptTokens: 0,
          completionTokens: 0,
          requests: 0,
          written: [],
        };
        this.pending.set(key, batch);
      }
      batch.promptTokens += entry.promptTokens;
      batch.completionTokens += entry.completionTokens;
      batch.requests += 1;
      batch.written.push(resolve);
      this.scheduleWrite(urgency);
    });
  }

  /**
   * Writes what is pending now and waits for it: usage reports call this first, so a
   * client that asks right after its stream ended sees that stream (read-your-writes on
   * this instance; another instance's pending write shows within RELAXED_WRITE_DELAY_MS).
   */
  async flush(): Promise<void> {
    this.delayed?.start();
    // The write in flight (or just started) loops until nothing pending is left, so it
    // covers every settlement made before this call; later ones are not waited for.
    await this.writing;
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
    while (this.pending.size > 0) {
      const batches = [...this.pending.values()];
      this.pending = new Map();
      await Promise.all(
        batches.map(async (batch) => {
          await this.write(batch);
          for (const resolve of batch.written) resolve();
        }),
      );
    }
  }

  private async write(batch: PendingUsage): Promise<void> {
    const entry: UsageEntry = {
      ...batch.entry,
      promptTokens: batch.promptTokens,
      completionTokens: batch.completionTokens,
    };
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.usage.add(entry, batch.requests);
        return;
      } catch (error) {
        if (attempt >= PERSIST_ATTEMPTS) {
          // The in-process counter still holds the tokens, so the budget stays hard here;
          // the line carries what is needed to reconcile the table by hand.
          this.logger.error(
            `usage not recorded after ${attempt} attempts: ${JSON.stringify({ ...entry, requests: batch.requests, error: (error as Error).message })}`,
          );
          return;
        }
        await sleep(50 * attempt);
      }
    }
  }
}
