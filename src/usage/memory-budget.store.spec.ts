import { describeBudgetStoreContract } from '../../test/support/budget-store-contract';
import { MemoryBudgetStore } from './memory-budget.store';

describeBudgetStoreContract(MemoryBudgetStore.name, (loader) => new MemoryBudgetStore(loader));

describe(MemoryBudgetStore.name, () => {
  const ask = {
    counters: [
      { key: 'user:tokens:day:2026-11-22:u1', limit: 1000, base: 1, perToken: 1, ttlSeconds: 60 },
    ],
    maxCompletionTokens: 1,
  };

  it('loads a counter once, however many requests arrive together', async () => {
    const loader = jest.fn(() => Promise.resolve(0));
    const store = new MemoryBudgetStore(loader);
    await Promise.all(Array.from({ length: 10 }, () => store.reserve(ask)));
    expect(loader).toHaveBeenCalledTimes(1);
    expect(loader).toHaveBeenCalledWith('user:tokens:day:2026-11-22:u1');
  });

  describe('a counter past its period', () => {
    const DAY_MS = 86_400_000;
    let now: number;
    beforeEach(() => {
      now = Date.UTC(2026, 10, 22, 12);
      jest.spyOn(Date, 'now').mockImplementation(() => now);
    });
    afterEach(() => jest.restoreAllMocks());

    it('is forgotten when it holds nothing, and loaded again from the usage tables', async () => {
      const loader = jest.fn().mockResolvedValueOnce(0).mockResolvedValue(700);
      const store = new MemoryBudgetStore(loader);
      const first = await store.reserve(ask);
      if (!first.granted) throw new Error('refused');
      await store.settle(first.hold, [2]);
      now += 61 * 1000 + 2 * DAY_MS;
      await expect(store.reserve({ ...ask, maxCompletionTokens: 1000 })).resolves.toMatchObject({
        granted: true,
        hold: { completionTokens: 1000 - 700 - 1 },
      });
      expect(loader).toHaveBeenCalledTimes(2);
    });

    it('is kept while a reservation holds on it', async () => {
      const loader = jest.fn().mockResolvedValueOnce(0).mockResolvedValue(700);
      const store = new MemoryBudgetStore(loader);
      const held = await store.reserve({ ...ask, maxCompletionTokens: 500 });
      if (!held.granted) throw new Error('refused');
      now += 61 * 1000 + 2 * DAY_MS;
      await expect(store.reserve({ ...ask, maxCompletionTokens: 1000 })).resolves.toMatchObject({
        granted: true,
        hold: { completionTokens: 1000 - 501 - 1 },
      });
      expect(loader).toHaveBeenCalledTimes(1);
    });
  });

  it('retries a failed load on the next request', async () => {
    const loader = jest.fn().mockRejectedValueOnce(new Error('db down')).mockResolvedValue(0);
    const store = new MemoryBudgetStore(loader);
    await expect(store.reserve(ask)).rejects.toThrow('db down');
    await expect(store.reserve(ask)).resolves.toMatchObject({ granted: true });
  });
});
