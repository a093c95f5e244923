/**
 * A small read-through cache for rows that the hot path reads on every call (an API key's
 * verdict, a user's limits, a team's policy): each value is kept `ttlMs` after its load started
 * (or until the time `expiry` gives for it, when that is sooner), and **one load per key at a
 * time** — callers that miss while a load is in flight wait for that load instead
 * of starting their own. Without that, every request in flight when an entry expires (100
 * under the bench's load) queried the database for the same row (bench/NOTES.md, chat CPU
 * round 4). `delete` drops the entry and forgets a load in flight, whose result is then not
 * kept: the next call reads the row again, so a change applies at once on this instance.
 *
 * Written here rather than with `lru-cache`'s `fetch()`: that aborts a load in flight when its
 * key is deleted and rejects the callers waiting on it, where an admin's change must not fail
 * the chat calls of that moment.
 */
export class ExpiringCache<K, V> {
  private readonly entries = new Map<K, { readonly value: V; readonly until: number }>();
  private readonly loading = new Map<K, Promise<V>>();

  constructor(
    private readonly ttlMs: number,
    /** Past this many entries the oldest one goes (a bound, not an LRU). */
    private readonly maxEntries: number,
    /** A value's own end of validity (epoch ms), e.g. a key's expiry; never past `ttlMs`. */
    private readonly expiry?: (value: V) => number,
  ) {}

  /** The cached value, else the load in flight, else a new load of `key`. */
  get(key: K, load: (key: K) => Promise<V>): Promise<V> {
    const now = Date.now();
    const cached = this.entries.get(key);
    if (cached !== undefined && cached.until > now) return Promise.resolve(cached.value);
    const inFlight = this.loading.get(key);
    if (inFlight !== undefined) return inFlight;
    const loaded: Promise<V> = load(key).then(
      (value) => {
        if (this.loading.get(key) === loaded) {
          this.loading.delete(key);
          if (this.entries.size >= this.maxEntries)
            this.entries.delete(this.entries.keys().next().value as K);
          const until = now + this.ttlMs;
          this.entries.set(key, {
            value,
            until: this.expiry ? Math.min(until, this.expiry(value)) : until,
          });
        }
        return value;
      },
      (error: unknown) => {
        if (this.loading.get(key) === loaded) this.loading.delete(key);
        throw error;
      },
    );
    this.loading.set(key, loaded);
    return loaded;
  }

  /** Forgets `key`: its entry, and the result of a load in flight. */
  delete(key: K): void {
    this.entries.delete(key);
    this.loading.delete(key);
  }
}
