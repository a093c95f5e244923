import { randomUUID } from 'node:crypto';
import type { Reservation } from '../src/usage/budget-store';
import { BudgetService, RELAXED_WRITE_DELAY_MS } from '../src/usage/budget.service';
import { UsageRepository } from '../src/usage/usage.repository';
import { UsageService } from '../src/usage/usage.service';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * Group-committed usage writes (BudgetService) on the real database: every settlement is
 * recorded exactly once, an urgent one (a non-streamed answer waits for it) is never held
 * back by the delay that lets relaxed ones (finished streams) share a write, and the
 * reservation is only released after the write.
 */
describe('Usage writes: group commit', () => {
  let t: TestApp;
  let budget: BudgetService;
  let writes: jest.SpiedFunction<UsageRepository['add']>;

  beforeAll(async () => {
    t = await createTestApp({ CHAT_DAILY_TOKENS: '100000' });
    budget = t.app.get(BudgetService);
    // Observed, not replaced: the real upsert still runs.
    writes = jest.spyOn(t.app.get(UsageRepository), 'add');
  });

  afterAll(async () => {
    jest.useRealTimers();
    await t?.close();
  });

  afterEach(() => jest.useRealTimers());

  async function reserve(userId: string, limit = 1000): Promise<Reservation> {
    const result = await budget.tryReserve(userId, limit, 100, 200);
    if (!result.granted) throw new Error('reservation refused');
    return result.reservation;
  }

  async function totals(userId: string) {
    return (await t.app.get(UsageService).own({ userId, authMethod: 'jwt' })).totals;
  }

  /** Lets real I/O (PGlite) and immediates run while fake timers hold any setTimeout. */
  async function settleIo(): Promise<void> {
    for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
  }

  it('writes relaxed settlements together after the delay, each exactly once', async () => {
    const user = randomUUID();
    const reservations = await Promise.all([reserve(user), reserve(user), reserve(user)]);
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    writes.mockClear();
    let done = 0;
    const settled = reservations.map((reservation, i) =>
      budget
        .settle(
          reservation,
          'gpt-4o-mini',
          { promptTokens: 10 + i, completionTokens: 5 },
          'relaxed',
        )
        .then(() => (done += 1)),
    );
    await settleIo();
    // Held for company: nothing written yet, and the reservations still count.
    expect(done).toBe(0);
    expect(writes).not.toHaveBeenCalled();
    expect((await budget.tryReserve(user, 1000, 100, 200)).granted).toBe(false);

    jest.advanceTimersByTime(RELAXED_WRITE_DELAY_MS);
    jest.useRealTimers();
    await Promise.all(settled);
    expect(writes).toHaveBeenCalledTimes(1);
    expect(writes.mock.calls[0][1]).toBe(3);
    expect(await totals(user)).toMatchObject({ requests: 3, totalTokens: 10 + 11 + 12 + 15 });
  });

  it('writes waiting settlements before a usage report reads the table', async () => {
    const user = randomUUID();
    const reservation = await reserve(user);
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    writes.mockClear();
    const settled = budget.settle(
      reservation,
      'gpt-4o-mini',
      { promptTokens: 4, completionTokens: 2 },
      'relaxed',
    );
    await settleIo();
    expect(writes).not.toHaveBeenCalled();
    // No timer is advanced: the report itself has the waiting settlement written.
    expect(await totals(user)).toMatchObject({ requests: 1, totalTokens: 6 });
    await settled;
  });

  it('starts the write at once for an urgent settlement, taking the waiting relaxed ones along', async () => {
    const user = randomUUID();
    const [relaxed, urgent] = await Promise.all([reserve(user), reserve(user)]);
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    writes.mockClear();
    const waiting = budget.settle(
      relaxed,
      'gpt-4o-mini',
      { promptTokens: 7, completionTokens: 3 },
      'relaxed',
    );
    await settleIo();
    expect(writes).not.toHaveBeenCalled();
    // No timer is advanced: only the urgent settlement can start this write.
    await budget.settle(urgent, 'gpt-4o-mini', { promptTokens: 20, completionTokens: 0 });
    await waiting;
    expect(writes).toHaveBeenCalledTimes(1);
    expect(await totals(user)).toMatchObject({ requests: 2, totalTokens: 30 });
    // Both reservations are released: the whole budget minus what was spent is free again.
    expect((await budget.tryReserve(user, 1000, 100, 200)).granted).toBe(true);
  });
});
