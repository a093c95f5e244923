import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BUDGET_STORE,
  type BudgetCounter,
  type BudgetStore,
  type Reservation,
  type ReserveResult,
} from './budget-store';
import { MetricsService } from '../metrics/metrics.service';
import type { MeteredUsage } from '../pricing/metered-usage';
import { PricingService } from '../pricing/pricing.service';
import type { CallRecord } from '../spend/call-record';
import { type RequestLogEntry, RequestLogWriter } from '../spend/request-log.writer';
import { COUNTER_TTL_SECONDS, counterKey, type CounterUnit, usageSubject } from './budget-counters';
import { type PolicyUsageEntry, PolicyUsageRepository } from './policy-usage.repository';
import { type UsageEntry, UsageRepository } from './usage.repository';
import { utcDay } from './utc-day';

/**
 * What a call used: totals, and when upstream reported them, the cached share of the prompt
 * and the reasoning share of the completion (0 when unknown: estimates, cut streams).
 */
export interface TokenUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens?: number;
  readonly reasoningTokens?: number;
}

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

/** A row being summed into: the same fields, writable. */
type Summed<T> = { -readonly [K in keyof T]: T[K] };

/** Settlements of one (key or team, day) waiting for the next usage write, summed. */
interface PendingPolicyUsage {
  readonly entry: Summed<PolicyUsageEntry>;
  requests: number;
}

/** Settlements of one (user, day, model) waiting for the next usage write, summed. */
interface PendingUsage {
  readonly entry: Summed<UsageEntry>;
  requests: number;
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
    // Optional so the unit tests can build the service bare: no cost, no log, no metrics.
    @Optional() private readonly pricing?: PricingService,
    @Optional() private readonly requestLog?: RequestLogWriter,
    @Optional() private readonly metrics?: MetricsService,
    /** Per-key and per-team spend (key and team budgets, `GET /api/v1/keys`). */
    @Optional() private readonly policyUsage?: PolicyUsageRepository,
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
   * Bills a finished request (any outcome) and frees its reservation. Never throws. The one
   * place a call's usage becomes money, for every route (chat, /v1/chat/completions,
   * /v1/responses, /v1/embeddings): its cost (price table) goes into the user's usage row and
   * the key's and team's spend (policy_usage), each budget counter settles to the real tokens
   * or cost, and with `call` the same figures go to the request log and the metrics, so they
   * all agree.
   */
  async settle(
    reservation: Reservation,
    model: string,
    used: TokenUsage,
    urgency: SettleUrgency = 'urgent',
    call?: CallRecord,
  ): Promise<void> {
    const metered = meteredOf(used);
    const { promptTokens, completionTokens } = metered;
    const costNanos = this.pricing?.costNanos(model, metered) ?? 0;
    // During shutdown the log write is returned, and waited for with the usage write.
    const logged = call && this.record(call, reservation.userId, model, metered, costNanos);
    const tokens = promptTokens + completionTokens;
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
        cachedTokens: metered.cachedTokens,
        reasoningTokens: metered.reasoningTokens,
        costNanos,
      },
      policy,
      urgency,
    );
    await logged;
    const log = call?.log;
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

  /**
   * The call's request-log row and metrics (buffered: nothing here waits). One row feeds both,
   * so the log and the metrics count the same figures.
   */
  private record(
    call: CallRecord,
    userId: string,
    model: string,
    metered: MeteredUsage,
    costNanos: number,
  ): Promise<void> | undefined {
    const entry: RequestLogEntry = {
      time: call.timing.requestStartedAtDate,
      requestId: call.requestId,
      userId,
      keyId: call.principal.apiKeyId ?? null,
      teamId: call.principal.teamId ?? null,
      route: call.route,
      model,
      status: call.status,
      promptTokens: metered.promptTokens,
      cachedTokens: metered.cachedTokens,
      completionTokens: metered.completionTokens,
      reasoningTokens: metered.reasoningTokens,
      costNanos,
      ...call.timing.figures(),
      stream: call.stream,
      content: call.content,
    };
    const logged = this.requestLog?.add(entry);
    this.metrics?.observeCall(entry);
    return logged;
  }

  private persist(
    entry: UsageEntry,
    policy: readonly PolicyUsageEntry[],
    urgency: SettleUrgency,
  ): Promise<void> {
    for (const item of policy) {
      const key = `${item.subject}\u0000${item.day}`;
      const batch = this.pendingPolicy.get(key);
      if (!batch) {
        this.pendingPolicy.set(key, { entry: { ...item }, requests: 1 });
        continue;
      }
      batch.entry.tokens += item.tokens;
      batch.entry.costNanos += item.costNanos;
      batch.requests += 1;
    }
    return new Promise((resolve) => {
      const key = `${entry.userId}\u0000${entry.day}\u0000${entry.model}`;
      const batch = this.pending.get(key);
      if (!batch) {
        this.pending.set(key, { entry: { ...entry }, requests: 1, written: [resolve] });
      } else {
        batch.entry.promptTokens += entry.promptTokens;
        batch.entry.completionTokens += entry.completionTokens;
        batch.entry.cachedTokens += entry.cachedTokens;
        batch.entry.reasoningTokens += entry.reasoningTokens;
        batch.entry.costNanos += entry.costNanos;
        batch.requests += 1;
        batch.written.push(resolve);
      }
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
        ...batches.map(({ entry, requests }) =>
          this.write('usage', { ...entry, requests }, () => this.usage.add(entry, requests)),
        ),
        ...policy.map(({ entry, requests }) =>
          this.write('key/team usage', { ...entry, requests }, () =>
            this.policyUsage ? this.policyUsage.add(entry, requests) : Promise.resolve(),
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

/** Whole, non-negative counts; the cached and reasoning shares clamped to their totals. */
function meteredOf(used: TokenUsage): MeteredUsage {
  const whole = (value: number | undefined) => Math.max(0, Math.round(value ?? 0));
  const promptTokens = whole(used.promptTokens);
  const completionTokens = whole(used.completionTokens);
  return {
    promptTokens,
    cachedTokens: Math.min(whole(used.cachedTokens), promptTokens),
    completionTokens,
    reasoningTokens: Math.min(whole(used.reasoningTokens), completionTokens),
  };
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
