import type { CounterUnit } from './budget-counters';

/**
 * Where budgets are counted (docs/policy.md). Budgets are hard: a request reserves its worst
 * case on every counter that applies to it (the user's daily tokens, the key's and the team's
 * token and USD budgets) in one atomic step, all or nothing, before the upstream call, and
 * settles each counter to the real usage after it. The in-process store serves one instance;
 * the Redis store (one Lua script over every counter of the call) serves several.
 */
export interface BudgetStore {
  /**
   * Atomically grants a completion allowance on every counter: as many completion tokens
   * (at most `maxCompletionTokens`) as every counter has room for after its `base` — or
   * nothing, naming the tightest counter, when not even one completion token fits.
   */
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /**
   * Replaces a hold by what was really spent, per counter in the hold's order (tokens, or
   * nano-USD); the usage is already persisted by the caller.
   */
  settle(hold: Hold, used: readonly number[]): Promise<void>;
}

export const BUDGET_STORE = Symbol('BudgetStore');

/**
 * Loads what a counter already counted (from the usage tables) when a store first sees it;
 * the key says what to load (budget-counters.ts).
 */
export type CounterLoader = (key: string) => Promise<number>;

/** One budget a request must fit in. */
export interface BudgetCounter {
  /** What it counts, for whom, for which period (budget-counters.ts): the store's key. */
  readonly key: string;
  readonly limit: number;
  /** Held whatever the completion: the prompt ceiling (tokens) or its worst-case cost. */
  readonly base: number;
  /** Held per granted completion token: 1 for tokens, the output price for nano-USD. */
  readonly perToken: number;
  /** How long the store keeps the counter after its last use (its period, plus margin). */
  readonly ttlSeconds: number;
}

export interface ReserveRequest {
  readonly counters: readonly BudgetCounter[];
  readonly maxCompletionTokens: number;
}

/** What a grant holds on each counter, in the request's order. */
export interface Hold {
  readonly counters: readonly HeldCounter[];
  /** The completion cap sent upstream: `max_tokens` clamped to what every counter allows. */
  readonly completionTokens: number;
  /** The store's own handle on the hold, if it needs one to settle (Redis: the lease id). */
  readonly lease?: string;
}

export interface HeldCounter {
  readonly key: string;
  /** `base + completionTokens × perToken`: what is held until settlement. */
  readonly held: number;
}

export type ReserveResult =
  | { readonly granted: true; readonly hold: Hold }
  | {
      readonly granted: false;
      /** Index (in the request) of the counter that refused: the tightest. */
      readonly counter: number;
      /** Spent amounts alone leave no room on that counter: only the next period helps. */
      readonly exhausted: boolean;
      /** What is free on that counter now (its unit). */
      readonly remaining: number;
    };

/**
 * A request's hold on its budgets, with what settlement needs to bill it: whose call it was
 * (the user, the key and the team, for the usage tables) and each counter's unit.
 */
export interface Reservation extends Hold {
  readonly userId: string;
  readonly apiKeyId?: string;
  readonly teamId?: string;
  /** The UTC day the call is billed to (the day it reserved on). */
  readonly day: string;
  /** Per counter, in the hold's order. */
  readonly units: readonly CounterUnit[];
}
