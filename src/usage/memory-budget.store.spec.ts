import { MemoryBudgetStore } from './memory-budget.store';

const day = '2026-11-22';
const ask = (promptTokens: number, maxCompletionTokens: number, limit = 1000) => ({
  userId: 'u1',
  day,
  limit,
  promptTokens,
  maxCompletionTokens,
});

describe(MemoryBudgetStore.name, () => {
  it('starts from what the usage table says was spent today', async () => {
    const store = new MemoryBudgetStore(() => Promise.resolve(900));
    const result = await store.reserve(ask(10, 500));
    expect(result).toMatchObject({
      granted: true,
      reservation: { completionTokens: 90, tokens: 100 },
    });
  });

  it('never grants concurrent reservations beyond the limit', async () => {
    const loader = jest.fn(() => Promise.resolve(0));
    const store = new MemoryBudgetStore(loader);
    const results = await Promise.all(Array.from({ length: 10 }, () => store.reserve(ask(9, 300))));
    const granted = results.flatMap((r) => (r.granted ? [r.reservation] : []));
    expect(granted.map((r) => r.completionTokens)).toEqual([300, 300, 300, 64]);
    expect(granted.reduce((sum, r) => sum + r.tokens, 0)).toBe(1000);
    expect(results.filter((r) => !r.granted)).toHaveLength(6);
    expect(results.find((r) => !r.granted)).toMatchObject({ granted: false, exhausted: false });
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('settles a reservation to the real usage, freeing the rest', async () => {
    const store = new MemoryBudgetStore(() => Promise.resolve(0));
    const first = await store.reserve(ask(9, 991));
    if (!first.granted) throw new Error('expected a grant');
    expect(await store.reserve(ask(9, 10))).toMatchObject({ granted: false });
    await store.settle(first.reservation, 100);
    expect(await store.reserve(ask(9, 2000))).toMatchObject({
      granted: true,
      reservation: { completionTokens: 891 },
    });
  });

  it('reports an exhausted budget when spent tokens alone leave no room', async () => {
    const store = new MemoryBudgetStore(() => Promise.resolve(995));
    expect(await store.reserve(ask(9, 10))).toEqual({
      granted: false,
      exhausted: true,
      remaining: 5,
    });
  });

  it('retries a failed load on the next request', async () => {
    const loader = jest.fn().mockRejectedValueOnce(new Error('db down')).mockResolvedValue(0);
    const store = new MemoryBudgetStore(loader);
    await expect(store.reserve(ask(1, 1))).rejects.toThrow('db down');
    await expect(store.reserve(ask(1, 1))).resolves.toMatchObject({ granted: true });
  });
});
