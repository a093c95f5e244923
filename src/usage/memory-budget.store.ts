import { decideReservation } from './budget-arithmetic';
import type {
  BudgetStore,
  DayTotalLoader,
  Reservation,
  ReserveRequest,
  ReserveResult,
} from './budget-store';

interface DayCounter {
  /** Tokens settled (in the database) for the day. */
  committed: number;
  /** Tokens held by requests in flight. */
  reserved: number;
}

/**
 * The in-process budget store: one counter per (user, day), loaded once from the usage
 * table, then kept in memory. The check-and-add in `reserve` runs without an `await`
 * between reading and writing the counter, so on Node's single thread it is atomic:
 * concurrent requests can never reserve more than the budget.
 */
export class MemoryBudgetStore implements BudgetStore {
  private readonly counters = new Map<string, Promise<DayCounter>>();
  private currentDay = '';

  constructor(private readonly loadDayTotal: DayTotalLoader) {}

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const counter = await this.counter(request.userId, request.day);
    // Atomic section: no await from here to the end of the method.
    const decision = decideReservation(counter, request);
    if (!decision.granted) return decision;
    counter.reserved += decision.tokens;
    return {
      granted: true,
      reservation: {
        userId: request.userId,
        day: request.day,
        tokens: decision.tokens,
        completionTokens: decision.completionTokens,
      },
    };
  }

  async settle(reservation: Reservation, usedTokens: number): Promise<void> {
    const counter = await this.counter(reservation.userId, reservation.day);
    counter.reserved = Math.max(0, counter.reserved - reservation.tokens);
    counter.committed += usedTokens;
  }

  /** One load per (user, day), shared by concurrent callers; a failed load is retried next time. */
  private counter(userId: string, day: string): Promise<DayCounter> {
    this.forgetPastDays(day);
    const key = `${userId}\u0000${day}`;
    let counter = this.counters.get(key);
    if (!counter) {
      counter = this.loadDayTotal(userId, day).then((committed) => ({ committed, reserved: 0 }));
      counter.catch(() => this.counters.delete(key));
      this.counters.set(key, counter);
    }
    return counter;
  }

  /**
   * When the day turns, earlier counters are dropped — those with requests in flight only
   * once settled, which `settle` handles by reloading: a request settling after midnight
   * is billed to the day it reserved on, in the database as here.
   */
  private forgetPastDays(day: string): void {
    if (day <= this.currentDay) return;
    this.currentDay = day;
    for (const [key, counter] of this.counters) {
      if (key.endsWith(`\u0000${day}`)) continue;
      void counter.then(
        (value) => {
          if (value.reserved === 0) this.counters.delete(key);
        },
        () => undefined,
      );
    }
  }
}
