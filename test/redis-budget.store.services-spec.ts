import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisBudgetStore } from '../src/usage/redis-budget.store';
import { describeBudgetStoreContract } from './support/budget-store-contract';

// The `services` Jest project (npm run test:services) runs this only with REDIS_URL set.
const redisUrl = process.env.REDIS_URL!;
const prefix = `${process.env.REDIS_KEY_PREFIX ?? ''}budget-contract-${process.pid}:`;
const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
afterAll(() => redis.quit());

describeBudgetStoreContract(
  RedisBudgetStore.name,
  (loader) => new RedisBudgetStore(redis, prefix, loader, 60_000),
);

describe(RedisBudgetStore.name, () => {
  const ask = (userId: string) => ({
    counters: [
      {
        key: `user:tokens:day:2026-11-22:${userId}`,
        limit: 100,
        base: 10,
        perToken: 1,
        ttlSeconds: 600,
      },
    ],
    maxCompletionTokens: 90,
  });

  it('frees the budget of a reservation whose instance died before settling (lease expiry)', async () => {
    const store = new RedisBudgetStore(redis, prefix, () => Promise.resolve(0), 1);
    const user = `lease-${Date.now().toString(36)}`;
    expect(await store.reserve(ask(user))).toMatchObject({ granted: true });
    await sleep(20);
    expect(await store.reserve(ask(user))).toMatchObject({ granted: true });
  });

  it('settles through the lease it was granted, on another store instance too', async () => {
    const a = new RedisBudgetStore(redis, prefix, () => Promise.resolve(0), 60_000);
    const b = new RedisBudgetStore(redis, prefix, () => Promise.resolve(0), 60_000);
    const user = `shared-${Date.now().toString(36)}`;
    const first = await a.reserve(ask(user));
    if (!first.granted) throw new Error('expected a grant');
    expect(await b.reserve(ask(user))).toMatchObject({ granted: false, exhausted: false });
    await b.settle(first.hold, [20]);
    expect(await a.reserve(ask(user))).toMatchObject({
      granted: true,
      hold: { completionTokens: 70 },
    });
  });
});
