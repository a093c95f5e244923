import type { BudgetStore, DayTotalLoader, ReserveResult } from '../../src/usage/budget-store';

/** Builds a fresh store whose days start from `loader`. */
export type BudgetStoreFactory = (loader: DayTotalLoader) => BudgetStore | Promise<BudgetStore>;

let users = 0;

/**
 * The BudgetStore contract (src/usage/budget-arithmetic.ts), one suite for every store: the
 * in-process one (src/usage/memory-budget.store.spec.ts) and the Redis one
 * (test/redis-budget.store.services-spec.ts). A store whose arithmetic drifts from the rule
 * fails here.
 */
export function describeBudgetStoreContract(name: string, create: BudgetStoreFactory): void {
  describe(`${name} (BudgetStore contract)`, () => {
    const day = '2026-11-22';
    // A user no other test (or earlier run on a shared Redis) has touched.
    const ask = (promptTokens: number, maxCompletionTokens: number, limit = 1000) => {
      return { userId: currentUser, day, limit, promptTokens, maxCompletionTokens };
    };
    let currentUser = '';
    beforeEach(() => {
      users += 1;
      currentUser = `contract-${process.pid}-${Date.now().toString(36)}-${users}`;
    });
    const granted = (result: ReserveResult) => {
      if (!result.granted) throw new Error(`expected a grant, got ${JSON.stringify(result)}`);
      return result.reservation;
    };

    it('starts from what the usage table says was spent that day', async () => {
      const store = await create(() => Promise.resolve(900));
      expect(granted(await store.reserve(ask(10, 500)))).toMatchObject({
        completionTokens: 90,
        tokens: 100,
      });
    });

    it('grants the asked maximum when it fits, holding prompt plus completion', async () => {
      const store = await create(() => Promise.resolve(0));
      expect(granted(await store.reserve(ask(40, 100)))).toMatchObject({
        userId: currentUser,
        day,
        completionTokens: 100,
        tokens: 140,
      });
    });

    it('never grants concurrent reservations beyond the limit', async () => {
      const store = await create(() => Promise.resolve(0));
      const results = await Promise.all(
        Array.from({ length: 10 }, () => store.reserve(ask(9, 300))),
      );
      const grants = results.flatMap((r) => (r.granted ? [r.reservation] : []));
      expect(grants.map((r) => r.completionTokens).sort((a, b) => b - a)).toEqual([
        300, 300, 300, 64,
      ]);
      expect(grants.reduce((sum, r) => sum + r.tokens, 0)).toBe(1000);
      const refusals = results.filter((r) => !r.granted);
      expect(refusals).toHaveLength(6);
      // Held by requests in flight, not spent: a retry may pass soon.
      for (const refusal of refusals) {
        expect(refusal).toEqual({ granted: false, exhausted: false, remaining: 0 });
      }
    });

    it('settles a reservation to the real usage, freeing the rest', async () => {
      const store = await create(() => Promise.resolve(0));
      const first = granted(await store.reserve(ask(9, 991)));
      expect(await store.reserve(ask(9, 10))).toMatchObject({ granted: false, exhausted: false });
      await store.settle(first, 100);
      expect(granted(await store.reserve(ask(9, 2000))).completionTokens).toBe(891);
    });

    it('counts settled usage as spent: a budget used up is exhausted until the next day', async () => {
      const store = await create(() => Promise.resolve(0));
      await store.settle(granted(await store.reserve(ask(500, 500))), 995);
      expect(await store.reserve(ask(9, 10))).toEqual({
        granted: false,
        exhausted: true,
        remaining: 5,
      });
      const tomorrow = await store.reserve({ ...ask(9, 10), day: '2026-11-23' });
      expect(granted(tomorrow).completionTokens).toBe(10);
    });

    it('refuses when not even one completion token fits after the prompt', async () => {
      const store = await create(() => Promise.resolve(990));
      expect(await store.reserve(ask(10, 10))).toEqual({
        granted: false,
        exhausted: true,
        remaining: 10,
      });
      expect(granted(await store.reserve(ask(9, 10))).completionTokens).toBe(1);
    });

    it('refuses everything under a zero limit', async () => {
      const store = await create(() => Promise.resolve(0));
      expect(await store.reserve(ask(0, 10, 0))).toEqual({
        granted: false,
        exhausted: true,
        remaining: 0,
      });
    });

    it('keeps users apart', async () => {
      const store = await create(() => Promise.resolve(0));
      granted(await store.reserve(ask(9, 991)));
      const other = { ...ask(9, 991), userId: `${currentUser}-other` };
      expect(granted(await store.reserve(other)).tokens).toBe(1000);
    });
  });
}
