import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
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
import type { PolicyUsageEntry } from './policy-usage.repository';
import { type SettleUrgency, USAGE_LEDGER, type UsageLedger } from './usage-ledger';
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

export { RELAXED_WRITE_DELAY_MS } from './direct-usage.ledger';
export type { SettleUrgency } from './usage-ledger';

/**
 * Hard daily token budgets (docs/reference.md "Chat"): reserve the worst case before the upstream
 * call, settle to the real usage after it. Settlement records the usage first (the record of
 * what was spent), then releases the reservation, so a budget never looks larger than it is.
 *
 * The record goes to the usage ledger (docs/database.md "Usage writes"): on PostgreSQL
 * group-committed upserts, on the embedded database an append to the usage journal, applied
 * to the tables off the hot path. Either way it is durable when `settle` goes on, so a
 * non-streamed answer, sent after its settlement, is recorded even if the process is killed.
 */
@Injectable()
export class BudgetService {
  private readonly logger = new Logger(BudgetService.name);

  constructor(
    @Inject(BUDGET_STORE) private readonly store: BudgetStore,
    /** `chat_usage` and the key's and team's `policy_usage` (key and team budgets). */
    @Inject(USAGE_LEDGER) private readonly ledger: UsageLedger,
    // Optional so the unit tests can build the service bare: no cost, no log, no metrics.
    @Optional() private readonly pricing?: PricingService,
    @Optional() private readonly requestLog?: RequestLogWriter,
    @Optional() private readonly metrics?: MetricsService,
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
    await this.ledger.record(
      {
        usage: {
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
      },
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

  /**
   * Puts every settlement made so far into the usage tables: usage reports call this first,
   * so a client that asks right after its stream ended sees that stream (read-your-writes on
   * this instance).
   */
  flush(): Promise<void> {
    return this.ledger.flush();
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
