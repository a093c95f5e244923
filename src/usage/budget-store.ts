/**
 * Where daily token budgets are counted. docs/reference.md "Chat": budgets are hard, so a request
 * reserves its worst case atomically before the upstream call and settles to the real
 * usage after it. The in-process store serves one instance; a Redis store (a Lua script
 * doing the same check-and-add on one key per user and day) drops in behind this interface
 * for several instances.
 */
export interface BudgetStore {
  /**
   * Atomically grants a completion allowance: `promptTokens` plus up to
   * `maxCompletionTokens`, as much as fits under `limit` for the user's day — or nothing
   * when not even one completion token fits.
   */
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /** Replaces a reservation by the tokens really spent (already persisted by the caller). */
  settle(reservation: Reservation, usedTokens: number): Promise<void>;
}

export const BUDGET_STORE = Symbol('BudgetStore');

export interface ReserveRequest {
  readonly userId: string;
  readonly day: string;
  readonly limit: number;
  readonly promptTokens: number;
  readonly maxCompletionTokens: number;
}

export interface Reservation {
  readonly userId: string;
  readonly day: string;
  /** Prompt ceiling plus the granted completion tokens: what is held until settlement. */
  readonly tokens: number;
  /** The completion cap sent upstream (`max_tokens` clamped to the remaining budget). */
  readonly completionTokens: number;
}

export type ReserveResult =
  | { readonly granted: true; readonly reservation: Reservation }
  | {
      readonly granted: false;
      /** Spent tokens alone leave no room: only the next day helps. */
      readonly exhausted: boolean;
      readonly remaining: number;
    };
