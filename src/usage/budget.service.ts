import { Inject, Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestLog } from '../logging/request-log';
import type { MeteredUsage } from '../pricing/metered-usage';
import { PricingService } from '../pricing/pricing.service';
import { COUNTER_TTL_SECONDS, counterKey, type CounterUnit, usageSubject } from './budget-counters';
import {
  BUDGET_STORE,
  type BudgetCounter,
  type BudgetStore,
  type Reservation,
  type ReserveResult,
} from './budget-store';
import { type PolicyUsageEntry, PolicyUsageRepository } from './policy-usage.repository';
import { type UsageEntry, UsageRepository } from './usage.repository';
import { utcDay } from './utc-day';

export interface TokenUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/**
 * What a settled call used: a `MeteredUsage` (meteredFromUpstream: cached and reasoning
 * tokens priced exactly), or just the two totals (estimates), read as nothing cached.
 */
export type SettledUsage = TokenUsage & Partial<MeteredUsage>;

/** Whose call it is: the user, and the key and team when the call came with a key. */
export interface CallOwner {
  readonly userId: string;
  readonly apiKeyId?: string;
  readonly teamId?: string;
}

/** One counter a call must fit in, with its unit (the store sees only the numbers). */
export interface UnitCounter extends BudgetCounter {
  readonly unit: CounterUnit;
}

export type ReserveOutcome =
  | { readonly granted: true; readonly reservation: Reservation }
  | Extract<ReserveResult, { granted: false }>;

const PERSIST_ATTEMPTS = 3;
/**
 * How long a settlement whose client already has its whole answer (a finished stream) may
 * wait for company before its usage write: one write then carries several requests. Its
 * reservation is held meanwhile, so the budget only looks smaller, never larger.
 */
export const RELAXED_WRITE_DELAY_MS = 25;

/** `urgent`: someone waits for the write (a non-streamed answer is sent after it). */
export type SettleUrgency = 'urgent' | 'relaxed';

/** Settlements of one (key or team, day) waiting for the next usage write, summed. */
interface PendingPolicyUsage {
  tokens: number;
  costNanos: number;
  requests: number;
  readonly subject: string;
  readonly day: string;
}

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
  private pendingPolicy = new Map<string, PendingPolicyUsage>();
  private writing?: Promise<void>;
  /** A relaxed write waiting for company; an urgent settlement starts it at once. */
  private delayed?: { timer: NodeJS.Timeout; start: () => void };

  constructor(
    @Inject(BUDGET_STORE) private readonly store: BudgetStore,
    private readonly usage: UsageRepository,
    private readonly policyUsage: PolicyUsageRepository,
    private readonly pricing: PricingService,
  ) {}

  /**
   * Reserves on every counter at once (all or nothing, atomic across instances on Redis):
   * the grant's `completionTokens` is what every counter allows. A refusal names the counter
   * (its index in `counters`).
   */
  async reserve(
    owner: CallOwner,
    day: string,
    counters: readonly UnitCounter[],
    maxCompletionTokens: number,
  ): Promise<ReserveOutcome> {
    const result = await this.store.reserve({ counters, maxCompletionTokens });
    if (!result.granted) return result;
    return {
      granted: true,
      reservation: {
        ...result.hold,
        userId: owner.userId,
        ...(owner.apiKeyId ? { apiKeyId: owner.apiKeyId } : {}),
        ...(owner.teamId ? { teamId: owner.teamId } : {}),
        day,
        units: counters.map((counter) => counter.unit),
      },
    };
  }

  /** Just the user's daily token budget (the counter every call has). */
  tryReserve(
    userId: string,
    limit: number,
    promptTokens: number,
    maxCompletionTokens: number,
  ): Promise<ReserveOutcome> {
    const day = utcDay();
    return this.reserve(
      { userId },
      day,
      [userDailyTokens(userId, day, limit, promptTokens)],
      maxCompletionTokens,
    );
  }

  /** Frees a reservation that was never used (nothing was sent upstream): no usage row. */
  async release(reservation: Reservation): Promise<void> {
    await this.store
      .settle(
        reservation,
        reservation.counters.map(() => 0),
      )
      .catch((error: unknown) => {
        this.logger.error(`budget release failed: ${(error as Error).message}`);
      });
  }

  /**
   * Bills a finished request (any outcome) and frees its reservation: the single settle point
   * of every route (chat, /v1/chat/completions, /v1/responses, /v1/embeddings). Writes the
   * user's usage row and the key's and team's spend (policy_usage: tokens and exact nano-USD
   * from the price table), then settles each counter to the real tokens or cost. Never throws.
   */
  async settle(
    reservation: Reservation,
    model: string,
    used: SettledUsage,
    urgency: SettleUrgency = 'urgent',
    log?: RequestLog,
  ): Promise<void> {
    const promptTokens = Math.max(0, Math.round(used.promptTokens));
    const completionTokens = Math.max(0, Math.round(used.completionTokens));
    const tokens = promptTokens + completionTokens;
    const costNanos = this.pricing.costNanos(model, {
      promptTokens,
      completionTokens,
      cachedTokens: Math.max(0, Math.round(used.cachedTokens ?? 0)),
      reasoningTokens: Math.max(0, Math.round(used.reasoningTokens ?? 0)),
      images: used.images,
    });
    const policy: PolicyUsageEntry[] = [];
    if (reservation.apiKeyId)
      policy.push({
        subject: usageSubject('key', reservation.apiKeyId),
        day: reservation.day,
        tokens,
        costNanos,
      });
    if (reservation.teamId)
      policy.push({
        subject: usageSubject('team', reservation.teamId),
        day: reservation.day,
        tokens,
        costNanos,
      });
    await this.persist(
      {
        userId: reservation.userId,
        day: reservation.day,
        model,
        promptTokens,
        completionTokens,
      },
      policy,
      urgency,
    );
    await this.store
      .settle(
        reservation,
        reservation.units.map((unit) => (unit === 'tokens' ? tokens : costNanos)),
      )
      .catch((error: unknown) => {
        const message = (error as Error).message;
        if (log) log.error({ err: { message } }, 'budget settle failed');
        else this.logger.error(`budget settle failed: ${message}`);
      });
  }

  private persist(
    entry: UsageEntry,
    policy: readonly PolicyUsageEntry[],
    urgency: SettleUrgency,
  ): Promise<void> {
    for (const item of policy) {
      const key = `${item.subject}\u0000${item.day}`;
      let batch = this.pendingPolicy.get(key);
      if (!batch) {
        batch = { subject: item.subject, day: item.day, tokens: 0, costNanos: 0, requests: 0 };
        this.pendingPolicy.set(key, batch);
      }
      batch.tokens += item.tokens;
      batch.costNanos += item.costNanos;
      batch.requests += 1;
    }
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
    while (this.pending.size > 0 || this.pendingPolicy.size > 0) {
      const batches = [...this.pending.values()];
      const policy = [...this.pendingPolicy.values()];
      this.pending = new Map();
      this.pendingPolicy = new Map();
      // A settlement is released once its user row and its key's and team's rows are written.
      await Promise.all([
        ...batches.map((batch) => {
          const entry: UsageEntry = {
            ...batch.entry,
            promptTokens: batch.promptTokens,
            completionTokens: batch.completionTokens,
          };
          return this.write('usage', { ...entry, requests: batch.requests }, () =>
            this.usage.add(entry, batch.requests),
          );
        }),
        ...policy.map((batch) =>
          this.write('key/team usage', { ...batch }, () =>
            this.policyUsage.add(batch, batch.requests),
          ),
        ),
      ]);
      for (const batch of batches) for (const resolve of batch.written) resolve();
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

/** The user's daily token budget as a counter: every call has it. */
export function userDailyTokens(
  userId: string,
  day: string,
  limit: number,
  promptTokens: number,
): UnitCounter {
  return {
    key: counterKey({ owner: 'user', unit: 'tokens', period: 'day', day, id: userId }),
    unit: 'tokens',
    limit,
    base: promptTokens,
    perToken: 1,
    ttlSeconds: COUNTER_TTL_SECONDS.day,
  };
}
