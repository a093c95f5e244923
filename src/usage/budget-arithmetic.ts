import type { ReserveResult } from './budget-store';

/** A user's day as a store sees it when a request asks for budget. */
export interface DayCounts {
  /** Tokens settled (in the usage table) for the day. */
  readonly committed: number;
  /** Tokens held by requests in flight. */
  readonly reserved: number;
}

export interface ReserveAsk {
  readonly limit: number;
  readonly promptTokens: number;
  readonly maxCompletionTokens: number;
}

/** What `reserve` decides; the store records a grant and builds the reservation. */
export type ReserveDecision =
  | {
      readonly granted: true;
      /** The completion cap sent upstream (`max_tokens` clamped to what is left). */
      readonly completionTokens: number;
      /** Prompt ceiling plus the completion cap: what is held until settlement. */
      readonly tokens: number;
    }
  | Extract<ReserveResult, { granted: false }>;

/**
 * The budget rule, for every store: grant the prompt plus as many completion tokens as fit
 * (at most the asked maximum), or refuse when not even one completion token fits. The Redis
 * store runs the same arithmetic inside its Lua script (atomic across instances) and builds
 * its refusal with `refusal()`; `budget-store.contract.ts` holds both stores to this rule.
 */
export function decideReservation(counts: DayCounts, ask: ReserveAsk): ReserveDecision {
  const available = ask.limit - counts.committed - counts.reserved;
  const completionTokens = Math.min(ask.maxCompletionTokens, available - ask.promptTokens);
  if (completionTokens < 1) return refusal(ask, counts.committed, available);
  return { granted: true, completionTokens, tokens: ask.promptTokens + completionTokens };
}

/**
 * A refusal: `exhausted` when spent tokens alone leave no room for this prompt (only the
 * next day helps; otherwise requests in flight hold the rest and a retry soon may pass),
 * `remaining` what is free now.
 */
export function refusal(
  ask: Pick<ReserveAsk, 'limit' | 'promptTokens'>,
  committed: number,
  available: number,
): Extract<ReserveResult, { granted: false }> {
  const unspent = Math.max(0, ask.limit - committed);
  return {
    granted: false,
    exhausted: unspent - ask.promptTokens < 1,
    remaining: Math.max(0, available),
  };
}
