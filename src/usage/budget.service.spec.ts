import { Logger } from '@nestjs/common';
import { BudgetService, RELAXED_WRITE_DELAY_MS } from './budget.service';
import { DirectUsageLedger } from './direct-usage.ledger';
import { MemoryBudgetStore } from './memory-budget.store';
import type { PolicyUsageEntry } from './policy-usage.repository';
import type { UsageEntry } from './usage.repository';

/** The usage table in memory: what was written, in order, and a switch to make writes fail. */
class FakeUsageRepository {
  readonly writes: Array<{ entry: UsageEntry; requests: number }> = [];
  failuresLeft = 0;
  /** Resolves the write in flight only when the spec says so. */
  gate?: Promise<void>;

  async add(entry: UsageEntry, requests: number): Promise<void> {
    await this.gate;
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      throw new Error('database unavailable');
    }
    this.writes.push({ entry, requests });
  }

  dayTotal(): Promise<number> {
    return Promise.resolve(
      this.writes.reduce((sum, w) => sum + w.entry.promptTokens + w.entry.completionTokens, 0),
    );
  }
}

class FakePolicyUsageRepository {
  readonly writes: Array<{ entry: PolicyUsageEntry; requests: number }> = [];
  add(entry: PolicyUsageEntry, requests: number): Promise<void> {
    this.writes.push({ entry, requests });
    return Promise.resolve();
  }
}

function setUp(limit = 1000) {
  const usage = new FakeUsageRepository();
  const store = new MemoryBudgetStore(() => usage.dayTotal());
  const budget = new BudgetService(
    store,
    new DirectUsageLedger(usage, new FakePolicyUsageRepository()),
  );
  const reserve = async (prompt: number, max: number) => {
    const result = await budget.tryReserve('u1', limit, prompt, max);
    if (!result.granted) throw new Error('expected a grant');
    return result.reservation;
  };
  return { budget, usage, reserve };
}

/** Lets settled promises and setImmediate callbacks run (fake timers leave those real). */
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe(BudgetService.name, () => {
  beforeEach(() =>
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }),
  );
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('holds the worst case until settled, then only what was really used', async () => {
    const { budget, reserve } = setUp();
    const held = await reserve(100, 800);
    expect(await budget.tryReserve('u1', 1000, 100, 800)).toMatchObject({ granted: false });
    await budget.settle(held, 'gpt-4o-mini', { promptTokens: 90, completionTokens: 10 });
    expect(await budget.tryReserve('u1', 1000, 100, 800)).toMatchObject({
      granted: true,
      reservation: { completionTokens: 800 },
    });
  });

  it('writes the usage row before it releases the reservation (the budget never looks larger)', async () => {
    const { budget, usage, reserve } = setUp();
    const held = await reserve(100, 800);
    let open!: () => void;
    usage.gate = new Promise((resolve) => (open = resolve));
    const settled = budget.settle(held, 'm', { promptTokens: 10, completionTokens: 0 });
    await turn();
    // The write is stuck: the reservation still holds the budget.
    expect(await budget.tryReserve('u1', 1000, 100, 10)).toMatchObject({ granted: false });
    open();
    await settled;
    expect(usage.writes).toHaveLength(1);
    expect(await budget.tryReserve('u1', 1000, 100, 10)).toMatchObject({ granted: true });
  });

  it('starts an urgent write at once, with no timer', async () => {
    const { budget, usage, reserve } = setUp();
    await budget.settle(await reserve(10, 10), 'm', { promptTokens: 10, completionTokens: 5 });
    expect(usage.writes).toEqual([
      {
        entry: {
          userId: 'u1',
          day: expect.any(String),
          model: 'm',
          promptTokens: 10,
          completionTokens: 5,
          // Built without a price table: no cost; no details reported.
          cachedTokens: 0,
          reasoningTokens: 0,
          costNanos: 0,
        },
        requests: 1,
      },
    ]);
  });

  it('lets relaxed settlements wait for company and go out as one write', async () => {
    const { budget, usage, reserve } = setUp();
    const [a, b] = [await reserve(10, 10), await reserve(10, 10)];
    const both = Promise.all([
      budget.settle(a, 'm', { promptTokens: 10, completionTokens: 1 }, 'relaxed'),
      budget.settle(b, 'm', { promptTokens: 10, completionTokens: 2 }, 'relaxed'),
    ]);
    await turn();
    expect(usage.writes).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(RELAXED_WRITE_DELAY_MS);
    await both;
    expect(usage.writes).toHaveLength(1);
    expect(usage.writes[0]).toMatchObject({
      requests: 2,
      entry: { promptTokens: 20, completionTokens: 3 },
    });
  });

  it('starts a waiting relaxed write when an urgent settlement arrives', async () => {
    const { budget, usage, reserve } = setUp();
    const [a, b] = [await reserve(10, 10), await reserve(10, 10)];
    const relaxed = budget.settle(a, 'm', { promptTokens: 1, completionTokens: 1 }, 'relaxed');
    await budget.settle(b, 'm', { promptTokens: 1, completionTokens: 1 }, 'urgent');
    await relaxed;
    expect(usage.writes.reduce((sum, w) => sum + w.requests, 0)).toBe(2);
  });

  it('flush() writes what is pending now, without waiting for the relaxed delay', async () => {
    const { budget, usage, reserve } = setUp();
    void budget.settle(
      await reserve(10, 10),
      'm',
      { promptTokens: 3, completionTokens: 4 },
      'relaxed',
    );
    await budget.flush();
    expect(usage.writes).toHaveLength(1);
  });

  it('keeps models apart in the usage table', async () => {
    const { budget, usage, reserve } = setUp();
    await Promise.all([
      budget.settle(await reserve(1, 1), 'a', { promptTokens: 1, completionTokens: 0 }),
      budget.settle(await reserve(1, 1), 'b', { promptTokens: 1, completionTokens: 0 }),
    ]);
    expect(usage.writes.map((w) => w.entry.model).sort()).toEqual(['a', 'b']);
  });

  it('retries a failed write, then gives up with a log line, still releasing the reservation', async () => {
    const { budget, usage, reserve } = setUp();
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    usage.failuresLeft = 3;
    const settled = budget.settle(await reserve(500, 500), 'm', {
      promptTokens: 1,
      completionTokens: 1,
    });
    await jest.advanceTimersByTimeAsync(1000);
    await settled;
    expect(usage.writes).toHaveLength(0);
    expect(error).toHaveBeenCalledWith(
      expect.stringMatching(/usage not recorded after 3 attempts/),
    );
    // Settled in the counter all the same: the budget is free again (less the 2 tokens used).
    expect(await budget.tryReserve('u1', 1000, 1, 997)).toMatchObject({
      granted: true,
      reservation: { completionTokens: 997 },
    });
  });

  it('recovers from a transient write failure without losing the usage', async () => {
    const { budget, usage, reserve } = setUp();
    usage.failuresLeft = 1;
    const settled = budget.settle(await reserve(5, 5), 'm', {
      promptTokens: 5,
      completionTokens: 5,
    });
    await jest.advanceTimersByTimeAsync(100);
    await settled;
    expect(usage.writes).toHaveLength(1);
  });
});
