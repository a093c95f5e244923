import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { refusal } from './budget-arithmetic';
import type {
  BudgetStore,
  DayTotalLoader,
  Reservation,
  ReserveRequest,
  ReserveResult,
} from './budget-store';

/**
 * Check-and-reserve in one Lua script, so concurrent requests on any number of instances
 * can never reserve past the budget. The grant arithmetic is `decideReservation`'s
 * (budget-arithmetic.ts), written again in Lua because it must run inside Redis to be
 * atomic; the shared contract spec holds both stores to the same answers. Reservations are leases in a sorted set scored by
 * their expiry: an instance that dies mid-request does not hold budget forever.
 *   KEYS[1] committed counter (string), KEYS[2] reservations (zset member "id:tokens")
 *   ARGV limit, prompt, maxCompletion, nowMs, leaseMs, id, ttlSeconds
 */
const RESERVE = `
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local committed = tonumber(redis.call('GET', KEYS[1]) or '0')
local reserved = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  reserved = reserved + tonumber(string.match(member, ':(%d+)$'))
end
local limit = tonumber(ARGV[1])
local prompt = tonumber(ARGV[2])
local available = limit - committed - reserved
local completion = math.min(tonumber(ARGV[3]), available - prompt)
if completion < 1 then
  return {0, committed, available}
end
local tokens = prompt + completion
redis.call('ZADD', KEYS[2], tonumber(ARGV[4]) + tonumber(ARGV[5]), ARGV[6] .. ':' .. tokens)
redis.call('EXPIRE', KEYS[2], ARGV[7])
return {1, completion, tokens}
`;

/** Drops the lease and adds the real usage, atomically. */
const SETTLE = `
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCRBY', KEYS[1], ARGV[2])
end
return 1
`;

const DAY_TTL_SECONDS = 2 * 86400;

/** The BudgetStore shared by every instance through Redis (REDIS_URL). */
export class RedisBudgetStore implements BudgetStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly loadDayTotal: DayTotalLoader,
    /** Longest a request can hold a reservation: the upstream deadline plus margin. */
    private readonly leaseMs: number,
  ) {}

  private keys(userId: string, day: string): [string, string] {
    const base = `${this.prefix}budget:${day}:${userId}`;
    return [`${base}:committed`, `${base}:leases`];
  }

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const [committedKey, leasesKey] = this.keys(request.userId, request.day);
    if ((await this.redis.exists(committedKey)) === 0) {
      // First use of the day on any instance: seed from the usage table (NX: one seed wins).
      const total = await this.loadDayTotal(request.userId, request.day);
      await this.redis.set(committedKey, String(total), 'EX', DAY_TTL_SECONDS, 'NX');
    }
    const id = randomUUID();
    const [granted, a, b] = (await this.redis.eval(
      RESERVE,
      2,
      committedKey,
      leasesKey,
      request.limit,
      request.promptTokens,
      request.maxCompletionTokens,
      Date.now(),
      this.leaseMs,
      id,
      DAY_TTL_SECONDS,
    )) as [number, number, number];
    // Refused: a = committed, b = available. Granted: a = completion, b = tokens.
    if (granted !== 1) return refusal(request, a, b);
    return {
      granted: true,
      reservation: {
        userId: request.userId,
        day: request.day,
        tokens: b,
        completionTokens: a,
        lease: `${id}:${b}`,
      },
    };
  }

  async settle(reservation: Reservation, usedTokens: number): Promise<void> {
    const [committedKey, leasesKey] = this.keys(reservation.userId, reservation.day);
    await this.redis.eval(
      SETTLE,
      2,
      committedKey,
      leasesKey,
      reservation.lease ?? '',
      Math.max(0, Math.round(usedTokens)),
    );
  }
}
