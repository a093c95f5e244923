import { decideReservation } from './budget-arithmetic';
import type {
  BudgetStore,
  CounterLoader,
  Hold,
  ReserveRequest,
  ReserveResult,
} from './budget-store';

interface Counter {
  /** Settled (in the database) for the period. */
  committed: number;
  /** Held by requests in flight. */
  reserved: number;
  /** Dropped after this (epoch ms) unless used again or holding something. */
  expiresAt: number;
}

const SWEEP_EVERY_MS = 60_000;

/**
 * The in-process budget store: one counter per key (whose, what, which period), loaded once
 * from the usage tables, then kept in memory. The check-and-add in `reserve` runs without an
 * `await` between reading and writing the counters (they are all loaded first), so on Node's
 * single thread it is atomic over every counter of the request: concurrent requests can never
 * reserve more than any budget, and a refusal holds nothing anywhere.
 */
export class MemoryBudgetStore implements BudgetStore {
  private readonly counters = new Map<string, Promise<Counter>>();
  private nextSweep = 0;

  constructor(private readonly load: CounterLoader) {}

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const counters = await Promise.all(
      request.counters.map((counter) => this.counter(counter.key, counter.ttlSeconds)),
    );
    // Atomic section: no await from here to the end of the method.
    const decision = decideReservation(counters, request.counters, request.maxCompletionTokens);
    if (!decision.granted) return decision;
    counters.forEach((counter, index) => (counter.reserved += decision.held[index]));
    return {
      granted: true,
      hold: {
        counters: request.counters.map((counter, index) => ({
          key: counter.key,
          held: decision.held[index],
        })),
        completionTokens: decision.completionTokens,
      },
    };
  }

  async settle(hold: Hold, used: readonly number[]): Promise<void> {
    const counters = await Promise.all(hold.counters.map((held) => this.counter(held.key, 0)));
    counters.forEach((counter, index) => {
      counter.reserved = Math.max(0, counter.reserved - hold.counters[index].held);
      counter.committed += used[index] ?? 0;
    });
  }

  /** One load per key, shared by concurrent callers; a failed load is retried next time. */
  private counter(key: string, ttlSeconds: number): Promise<Counter> {
    const now = Date.now();
    this.sweep(now);
    let counter = this.counters.get(key);
    if (!counter) {
      counter = this.load(key).then((committed) => ({ committed, reserved: 0, expiresAt: 0 }));
      counter.catch(() => this.counters.delete(key));
      this.counters.set(key, counter);
    }
    if (ttlSeconds > 0) {
      void counter.then(
        (value) => (value.expiresAt = Math.max(value.expiresAt, now + ttlSeconds * 1000)),
        () => undefined,
      );
    }
    return counter;
  }

  /**
   * Drops counters past their period (their ttl) that hold nothing: a request settling
   * after that reloads the counter from the database, where its usage is already written.
   */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_EVERY_MS;
    for (const [key, counter] of this.counters) {
      void counter.then(
        (value) => {
          if (value.reserved === 0 && value.expiresAt < now) this.counters.delete(key);
        },
        () => undefined,
      );
    }
  }
}
