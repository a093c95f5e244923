import type { BudgetCounter, ReserveResult } from './budget-store';

/** A counter as a store sees it when a request asks for budget. */
export interface CounterCounts {
  /** Settled (in the usage tables) for the period. */
  readonly committed: number;
  /** Held by requests in flight. */
  readonly reserved: number;
}

export type ReserveAsk = Pick<BudgetCounter, 'limit' | 'base' | 'perToken'>;

/** What `reserve` decides; the store records a grant and builds the hold. */
export type ReserveDecision =
  | {
      readonly granted: true;
      /** The completion cap sent upstream (`max_tokens` clamped to what is left). */
      readonly completionTokens: number;
      /** Per counter: base plus the completion cap priced in its unit. */
      readonly held: number[];
    }
  | Extract<ReserveResult, { granted: false }>;

/** Completion tokens that fit in `room` after `base`, at `perToken` each. */
export function fitting(room: number, counter: ReserveAsk): number {
  if (counter.perToken <= 0) return room - counter.base >= 0 ? Number.MAX_SAFE_INTEGER : -1;
  return Math.floor((room - counter.base) / counter.perToken);
}

/**
 * The budget rule, for every store: grant as many completion tokens as every counter has room
 * for (at most the asked maximum), holding `base + completion × perToken` on each, or refuse
 * when not even one fits anywhere, naming the tightest counter (the first of equals). The
 * Redis store runs the same arithmetic inside its Lua script (atomic across instances);
 * test/support/budget-store-contract.ts holds both stores to this rule. For a USD counter
 * this is PricingService.completionTokensWithin on the counter's room.
 */
export function decideReservation(
  counts: readonly CounterCounts[],
  counters: readonly ReserveAsk[],
  maxCompletionTokens: number,
): ReserveDecision {
  let completionTokens = maxCompletionTokens;
  let tightest = -1;
  counters.forEach((counter, index) => {
    const fits = fitting(counter.limit - counts[index].committed - counts[index].reserved, counter);
    if (fits < completionTokens) {
      completionTokens = fits;
      tightest = index;
    }
  });
  if (completionTokens < 1) {
    return refusal(
      counters[tightest],
      tightest,
      counts[tightest].committed,
      counts[tightest].reserved,
    );
  }
  return {
    granted: true,
    completionTokens,
    held: counters.map((counter) => counter.base + completionTokens * counter.perToken),
  };
}

/**
 * A refusal by one counter: `exhausted` when spent amounts alone leave no room for this
 * request (only the next period helps; otherwise requests in flight hold the rest and a retry
 * soon may pass), `remaining` what is free on it now.
 */
export function refusal(
  counter: ReserveAsk,
  index: number,
  committed: number,
  reserved: number,
): Extract<ReserveResult, { granted: false }> {
  return {
    granted: false,
    counter: index,
    exhausted: fitting(counter.limit - committed, counter) < 1,
    remaining: Math.max(0, counter.limit - committed - reserved),
  };
}
