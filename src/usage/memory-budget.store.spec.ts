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

  it('retries a failed load on the next request', async () => {
    const loader = jest.fn().mockRejectedValueOnce(new Error('db down')).mockResolvedValue(0);
    const store = new MemoryBudgetStore(loader);
    await expect(store.reserve(ask)).rejects.toThrow('db down');
    await expect(store.reserve(ask)).resolves.toMatchObject({ granted: true });
  });
});
