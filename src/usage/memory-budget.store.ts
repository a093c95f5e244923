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
 * reserve more than any budget, and a refusal holds nothing anywhere. Once a call's counters
 * are loaded, `reserve` and `settle` find them synchronously: no promise per counter per call.
 */
export class MemoryBudgetStore implements BudgetStore {
  private readonly counters = new Map<string, Counter>();
  /** Loads in progress, one per key, shared by concurrent callers. */
  private readonly loading = new Map<string, Promise<Counter>>();
  private nextSweep = 0;

  constructor(private readonly load: CounterLoader) {}

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const counters =
      this.loaded(request.counters) ??
      this.attach(request.counters, await this.loadAll(request.counters));
    // Atomic section: no await from here to the end of the method.
    const now = Date.now();
    counters.forEach((counter, index) => {
      const expiresAt = now + request.counters[index].ttlSeconds * 1000;
      if (expiresAt > counter.expiresAt) counter.expiresAt = expiresAt;
    });
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
    const counters =
      this.loaded(hold.counters) ?? this.attach(hold.counters, await this.loadAll(hold.counters));
    counters.forEach((counter, index) => {
      counter.reserved = Math.max(0, counter.reserved - hold.counters[index].held);
      counter.committed += used[index] ?? 0;
    });
  }

  /** The counters of these keys if every one is loaded already (the usual case). */
  private loaded(keys: ReadonlyArray<{ readonly key: string }>): Counter[] | undefined {
    this.sweep(Date.now());
    const counters: Counter[] = [];
    for (const { key } of keys) {
      const counter = this.counters.get(key);
      if (!counter) return undefined;
      counters.push(counter);
    }
    return counters;
  }

  /**
   * The live counter of each key after a load: the map's, or the one loaded when a sweep
   * dropped it meanwhile (put back, so what this request holds is seen by the next one).
   */
  private attach(keys: ReadonlyArray<{ readonly key: string }>, loaded: Counter[]): Counter[] {
    return loaded.map((counter, index) => {
      const key = keys[index].key;
      const live = this.counters.get(key);
      if (live) return live;
      this.counters.set(key, counter);
      return counter;
    });
  }

  private loadAll(keys: ReadonlyArray<{ readonly key: string }>): Promise<Counter[]> {
    return Promise.all(
      keys.map(({ key }) => {
        const counter = this.counters.get(key);
        return counter ? Promise.resolve(counter) : this.loadOne(key);
      }),
    );
  }

  /** One load per key, shared by concurrent callers; a failed load is retried next time. */
  private loadOne(key: string): Promise<Counter> {
    let pending = this.loading.get(key);
    if (!pending) {
      pending = this.load(key)
        .then((committed) => {
          // Kept until the first reserve sets its expiry (or the next sweep, if none comes).
          const counter = this.counters.get(key) ?? { committed, reserved: 0, expiresAt: 0 };
          this.counters.set(key, counter);
          return counter;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  /**
   * Drops counters past their period (their ttl) that hold nothing: a request settling
   * after that reloads the counter from the database, where its usage is already written.
   */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + SWEEP_EVERY_MS;
    for (const [key, counter] of this.counters) {
      if (counter.reserved === 0 && counter.expiresAt < now) this.counters.delete(key);
    }
  }
}
