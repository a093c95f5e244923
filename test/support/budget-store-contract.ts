import type {
  BudgetCounter,
  BudgetStore,
  CounterLoader,
  Hold,
  ReserveRequest,
  ReserveResult,
} from '../../src/usage/budget-store';

/** Builds a fresh store whose counters start from `loader`. */
export type BudgetStoreFactory = (loader: CounterLoader) => BudgetStore | Promise<BudgetStore>;

let runs = 0;

/**
 * The BudgetStore contract (src/usage/budget-arithmetic.ts), one suite for every store: the
 * in-process one (src/usage/memory-budget.store.spec.ts) and the Redis one
 * (test/redis-budget.store.services-spec.ts). A store whose arithmetic drifts from the rule
 * fails here.
 */
export function describeBudgetStoreContract(name: string, create: BudgetStoreFactory): void {
  describe(`${name} (BudgetStore contract)`, () => {
    // Counter keys no other test (or earlier run on a shared Redis) has touched.
    let run = '';
    beforeEach(() => {
      runs += 1;
      run = `contract-${process.pid}-${Date.now().toString(36)}-${runs}`;
    });
    const counter = (id: string, limit: number, base: number, perToken = 1): BudgetCounter => ({
      key: `user:tokens:day:2026-11-22:${run}-${id}`,
      limit,
      base,
      perToken,
      ttlSeconds: 600,
    });
    /** One token counter: the user's day, as before several counters existed. */
    const ask = (promptTokens: number, maxCompletionTokens: number, limit = 1000, id = 'u') =>
      ({
        counters: [counter(id, limit, promptTokens)],
        maxCompletionTokens,
      }) satisfies ReserveRequest;
    const granted = (result: ReserveResult): Hold => {
      if (!result.granted) throw new Error(`expected a grant, got ${JSON.stringify(result)}`);
      return result.hold;
    };
    const held = (hold: Hold) => hold.counters.map((c) => c.held);

    it('starts from what the usage table says was spent', async () => {
      const store = await create(() => Promise.resolve(900));
      const hold = granted(await store.reserve(ask(10, 500)));
      expect(hold.completionTokens).toBe(90);
      expect(held(hold)).toEqual([100]);
    });

    it('grants the asked maximum when it fits, holding prompt plus completion', async () => {
      const store = await create(() => Promise.resolve(0));
      const hold = granted(await store.reserve(ask(40, 100)));
      expect(hold.completionTokens).toBe(100);
      expect(hold.counters).toEqual([{ key: counter('u', 0, 0).key, held: 140 }]);
    });

    it('never grants concurrent reservations beyond the limit', async () => {
      const store = await create(() => Promise.resolve(0));
      const results = await Promise.all(
        Array.from({ length: 10 }, () => store.reserve(ask(9, 300))),
      );
      const grants = results.flatMap((r) => (r.granted ? [r.hold] : []));
      expect(grants.map((r) => r.completionTokens).sort((a, b) => b - a)).toEqual([
        300, 300, 300, 64,
      ]);
      expect(grants.reduce((sum, r) => sum + r.counters[0].held, 0)).toBe(1000);
      const refusals = results.filter((r) => !r.granted);
      expect(refusals).toHaveLength(6);
      // Held by requests in flight, not spent: a retry may pass soon.
      for (const refusal of refusals) {
        expect(refusal).toEqual({ granted: false, counter: 0, exhausted: false, remaining: 0 });
      }
    });

    it('settles a reservation to the real usage, freeing the rest', async () => {
      const store = await create(() => Promise.resolve(0));
      const first = granted(await store.reserve(ask(9, 991)));
      expect(await store.reserve(ask(9, 10))).toMatchObject({ granted: false, exhausted: false });
      await store.settle(first, [100]);
      expect(granted(await store.reserve(ask(9, 2000))).completionTokens).toBe(891);
    });

    it('counts settled usage as spent: a budget used up is exhausted until the next period', async () => {
      const store = await create(() => Promise.resolve(0));
      await store.settle(granted(await store.reserve(ask(500, 500))), [995]);
      expect(await store.reserve(ask(9, 10))).toEqual({
        granted: false,
        counter: 0,
        exhausted: true,
        remaining: 5,
      });
      const tomorrow = await store.reserve(ask(9, 10, 1000, 'u-next-day'));
      expect(granted(tomorrow).completionTokens).toBe(10);
    });

    it('refuses when not even one completion token fits after the prompt', async () => {
      const store = await create(() => Promise.resolve(990));
      expect(await store.reserve(ask(10, 10))).toEqual({
        granted: false,
        counter: 0,
        exhausted: true,
        remaining: 10,
      });
      expect(granted(await store.reserve(ask(9, 10))).completionTokens).toBe(1);
    });

    it('refuses everything under a zero limit', async () => {
      const store = await create(() => Promise.resolve(0));
      expect(await store.reserve(ask(0, 10, 0))).toEqual({
        granted: false,
        counter: 0,
        exhausted: true,
        remaining: 0,
      });
    });

    it('keeps counters apart', async () => {
      const store = await create(() => Promise.resolve(0));
      granted(await store.reserve(ask(9, 991)));
      expect(held(granted(await store.reserve(ask(9, 991, 1000, 'other'))))).toEqual([1000]);
    });

    it('caps the completion at what the tightest of several counters allows, holding each in its unit', async () => {
      const store = await create(() => Promise.resolve(0));
      // Tokens: 1000 − 100 prompt → 900 fit. Money: (10_000 − 100×15) / 60 → 141 fit.
      const hold = granted(
        await store.reserve({
          counters: [counter('tokens', 1000, 100), counter('usd', 10_000, 1500, 60)],
          maxCompletionTokens: 500,
        }),
      );
      expect(hold.completionTokens).toBe(141);
      expect(held(hold)).toEqual([241, 1500 + 141 * 60]);
    });

    it('refuses all or nothing, naming the tightest counter, and holds nothing on the others', async () => {
      const store = await create(() => Promise.resolve(0));
      const roomy = counter('roomy', 1000, 10);
      const tight = counter('tight', 5, 10);
      expect(await store.reserve({ counters: [roomy, tight], maxCompletionTokens: 100 })).toEqual({
        granted: false,
        counter: 1,
        exhausted: true,
        remaining: 5,
      });
      // Nothing was held on the roomy counter by the refusal.
      expect(
        granted(await store.reserve({ counters: [roomy], maxCompletionTokens: 990 }))
          .completionTokens,
      ).toBe(990);
    });

    it('settles each counter to its own amount', async () => {
      const store = await create(() => Promise.resolve(0));
      const tokens = counter('t', 1000, 10);
      const money = counter('m', 1000, 0, 2);
      const hold = granted(
        await store.reserve({ counters: [tokens, money], maxCompletionTokens: 100 }),
      );
      await store.settle(hold, [50, 400]);
      const next = granted(
        await store.reserve({ counters: [tokens, money], maxCompletionTokens: 1000 }),
      );
      // Tokens: 1000 − 50 − 10 = 940; money: (1000 − 400) / 2 = 300.
      expect(next.completionTokens).toBe(300);
    });

    it('treats a free completion (price 0) as fitting whenever the base fits', async () => {
      const store = await create(() => Promise.resolve(0));
      const free = counter('free', 100, 100, 0);
      expect(
        granted(await store.reserve({ counters: [free], maxCompletionTokens: 7 })).completionTokens,
      ).toBe(7);
      expect(await store.reserve({ counters: [free], maxCompletionTokens: 7 })).toMatchObject({
        granted: false,
        counter: 0,
      });
    });

    it('never lets concurrent requests over any of several shared counters', async () => {
      const store = await create(() => Promise.resolve(0));
      const shared = counter('shared', 500, 10);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.reserve({
            counters: [counter(`own-${i}`, 10_000, 10), shared],
            maxCompletionTokens: 40,
          }),
        ),
      );
      const grants = results.flatMap((r) => (r.granted ? [r.hold] : []));
      expect(grants.reduce((sum, hold) => sum + hold.counters[1].held, 0)).toBe(500);
      expect(grants).toHaveLength(10);
    });
  });
}
