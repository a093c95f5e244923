import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { refusal } from './budget-arithmetic';
import type {
  BudgetStore,
  CounterLoader,
  Hold,
  ReserveRequest,
  ReserveResult,
} from './budget-store';

/**
 * Check-and-reserve over every counter of a request in one Lua script, so concurrent requests
 * on any number of instances can never reserve past any budget, and a refusal holds nothing.
 * The grant arithmetic is `decideReservation`'s (budget-arithmetic.ts), written again in Lua
 * because it must run inside Redis to be atomic; the shared contract spec holds both stores
 * to the same answers. Reservations are leases in a sorted set per counter, scored by their
 * expiry: an instance that dies mid-request does not hold budget forever.
 *   KEYS: per counter, its committed counter (string) then its leases (zset, "id:held")
 *   ARGV: maxCompletion, nowMs, leaseMs, id, then per counter: limit, base, perToken, ttl
 * Returns {-1, i...} when counters i are not seeded yet (the caller seeds and runs it again),
 * {0, index, committed, reserved} when counter `index` (0-based) refuses, {1, completion}.
 * Keys of one request may sit on different slots: this needs a single Redis (or a primary
 * with replicas), not Redis Cluster.
 */
const RESERVE = `
local n = #KEYS / 2
local missing = {}
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 0 then missing[#missing + 1] = i - 1 end
end
if #missing > 0 then
  local out = {-1}
  for _, i in ipairs(missing) do out[#out + 1] = i end
  return out
end
local completion = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local tightest = 0
local committedOf, reservedOf = {}, {}
for i = 1, n do
  local leases = KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  local committed = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local reserved = 0
  for _, member in ipairs(redis.call('ZRANGE', leases, 0, -1)) do
    reserved = reserved + tonumber(string.match(member, ':(%d+)$'))
  end
  committedOf[i], reservedOf[i] = committed, reserved
  local room = tonumber(ARGV[1 + 4 * i]) - committed - reserved
  local base = tonumber(ARGV[2 + 4 * i])
  local perToken = tonumber(ARGV[3 + 4 * i])
  local fits
  if perToken <= 0 then
    if room - base >= 0 then fits = completion else fits = -1 end
  else
    fits = math.floor((room - base) / perToken)
  end
  if fits < completion then
    completion = fits
    tightest = i
  end
end
if completion < 1 then
  return {0, tightest - 1, string.format('%.0f', committedOf[tightest]), string.format('%.0f', reservedOf[tightest])}
end
for i = 1, n do
  local held = tonumber(ARGV[2 + 4 * i]) + completion * tonumber(ARGV[3 + 4 * i])
  redis.call('ZADD', KEYS[2 * i], now + tonumber(ARGV[3]), ARGV[4] .. ':' .. string.format('%.0f', held))
  redis.call('EXPIRE', KEYS[2 * i], ARGV[4 + 4 * i])
end
return {1, completion}
`;

/** Drops the leases and adds the real usage, atomically.  ARGV: id, then per counter: held, used. */
const SETTLE = `
for i = 1, #KEYS / 2 do
  redis.call('ZREM', KEYS[2 * i], ARGV[1] .. ':' .. ARGV[2 * i])
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 1 then
    redis.call('INCRBY', KEYS[2 * i - 1], ARGV[2 * i + 1])
  end
end
return 1
`;

/** The BudgetStore shared by every instance through Redis (REDIS_URL). */
export class RedisBudgetStore implements BudgetStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly load: CounterLoader,
    /** Longest a request can hold a reservation: the upstream deadline plus margin. */
    private readonly leaseMs: number,
  ) {}

  private keys(counterKey: string): [string, string] {
    const base = `${this.prefix}budget:${counterKey}`;
    return [`${base}:committed`, `${base}:leases`];
  }

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const keys = request.counters.flatMap((counter) => this.keys(counter.key));
    const id = randomUUID();
    const args: Array<string | number> = [
      request.maxCompletionTokens,
      Date.now(),
      this.leaseMs,
      id,
      ...request.counters.flatMap((c) => [c.limit, c.base, c.perToken, c.ttlSeconds]),
    ];
    for (let attempt = 0; ; attempt += 1) {
      const reply = (await this.redis.eval(RESERVE, keys.length, ...keys, ...args)) as Array<
        number | string
      >;
      const status = Number(reply[0]);
      if (status === 1) {
        const completionTokens = Number(reply[1]);
        return {
          granted: true,
          hold: {
            counters: request.counters.map((counter) => ({
              key: counter.key,
              held: counter.base + completionTokens * counter.perToken,
            })),
            completionTokens,
            lease: id,
          },
        };
      }
      if (status === 0) {
        const index = Number(reply[1]);
        return refusal(request.counters[index], index, Number(reply[2]), Number(reply[3]));
      }
      if (attempt > 0) throw new Error('budget counters vanished while being seeded');
      // First use of a counter on any instance: seed it from the usage tables (NX: one wins).
      await Promise.all(
        reply.slice(1).map(async (index) => {
          const counter = request.counters[Number(index)];
          const total = await this.load(counter.key);
          await this.redis.set(
            this.keys(counter.key)[0],
            String(total),
            'EX',
            counter.ttlSeconds,
            'NX',
          );
        }),
      );
    }
  }

  async settle(hold: Hold, used: readonly number[]): Promise<void> {
    const keys = hold.counters.flatMap((counter) => this.keys(counter.key));
    await this.redis.eval(
      SETTLE,
      keys.length,
      ...keys,
      hold.lease ?? '',
      ...hold.counters.flatMap((counter, index) => [
        counter.held,
        Math.max(0, Math.round(used[index] ?? 0)),
      ]),
    );
  }
}
