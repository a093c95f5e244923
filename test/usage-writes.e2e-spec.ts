import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseService } from '../src/database/database.service';
import type { Reservation } from '../src/usage/budget-store';
import {
  BudgetService,
  RELAXED_WRITE_DELAY_MS,
  userDailyTokens,
} from '../src/usage/budget.service';
import { parseCounterKey, usageSubject } from '../src/usage/budget-counters';
import { DirectUsageLedger } from '../src/usage/direct-usage.ledger';
import { JournalUsageLedger } from '../src/usage/journal-usage.ledger';
import { MemoryBudgetStore } from '../src/usage/memory-budget.store';
import { PolicyUsageRepository } from '../src/usage/policy-usage.repository';
import { USAGE_JOURNAL_DIR, UsageJournal } from '../src/usage/usage-journal';
import { UsageRepository } from '../src/usage/usage.repository';
import { UsageService } from '../src/usage/usage.service';
import { utcDay } from '../src/usage/utc-day';
import { eventually } from './support/chat-harness';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * Usage writes on the real database (docs/database.md "Usage writes"). The direct ledger
 * (PostgreSQL's) group-commits: every settlement is recorded exactly once, an urgent one (a
 * non-streamed answer waits for it) is never held back by the delay that lets relaxed ones
 * (finished streams) share a write, and the reservation is only released after the write.
 * The embedded database's ledger appends to the usage journal and applies it in batches.
 */
describe('Usage writes: the direct ledger (group commit)', () => {
  let t: TestApp;
  let budget: BudgetService;
  let writes: jest.SpiedFunction<UsageRepository['add']>;

  beforeAll(async () => {
    t = await createTestApp({ CHAT_DAILY_TOKENS: '100000' });
    const usage = t.app.get(UsageRepository);
    // PostgreSQL's ledger, on whichever database the suite runs: the same upserts.
    budget = new BudgetService(
      new MemoryBudgetStore((key) => {
        const counter = parseCounterKey(key);
        return usage.dayTotal(counter.id, counter.fromDay);
      }),
      new DirectUsageLedger(usage, t.app.get(PolicyUsageRepository)),
    );
    // Observed, not replaced: the real upsert still runs.
    writes = jest.spyOn(usage, 'add');
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

  it('writes waiting settlements when flushed, before a usage report reads the table', async () => {
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
    // No timer is advanced: flush (what a usage report calls first) writes it.
    await budget.flush();
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

// The journal belongs to the embedded database: this app runs on it under `npm run
// test:services` too (`DATABASE_URL` emptied), so the suite never skips.
describe('Usage writes: the usage journal (embedded database)', () => {
  let t: TestApp;
  let budget: BudgetService;
  let database: DatabaseService;
  let batches: jest.SpiedFunction<DatabaseService['runInTransaction']>;
  let upserts: jest.SpiedFunction<UsageRepository['add']>;

  beforeAll(async () => {
    // A long window: nothing is applied by the timer while a test looks.
    t = await createTestApp({
      DATABASE_URL: '',
      CHAT_DAILY_TOKENS: '100000',
      USAGE_JOURNAL_APPLY_MS: '60000',
    });
    budget = t.app.get(BudgetService);
    database = t.app.get(DatabaseService);
    expect(database.kind).toBe('pglite');
    // Observed, not replaced.
    batches = jest.spyOn(database, 'runInTransaction');
    upserts = jest.spyOn(t.app.get(UsageRepository), 'add');
  });

  afterAll(() => t?.close());

  beforeEach(() => {
    batches.mockClear();
    upserts.mockClear();
  });

  const journal = () =>
    new UsageJournal(join(t.config.database.dataDir, USAGE_JOURNAL_DIR)).read().records;
  const watermark = async () =>
    Number(
      (
        await database.query<{ applied_seq: string }>(
          "select applied_seq from journal_watermarks where journal = 'usage'",
          [],
        )
      )[0]?.applied_seq ?? 0,
    );

  async function reserveFor(userId: string, apiKeyId: string, teamId: string) {
    const day = utcDay();
    const result = await budget.reserve(
      { userId, apiKeyId, teamId },
      day,
      [userDailyTokens(userId, day, 100_000, 100)],
      200,
    );
    if (!result.granted) throw new Error('reservation refused');
    return result.reservation;
  }

  it('acknowledges a settlement once its journal line is written, with no database write', async () => {
    const user = randomUUID();
    await budget.settle(await reserveFor(user, randomUUID(), randomUUID()), 'gpt-4o-mini', {
      promptTokens: 12,
      completionTokens: 3,
    });
    // Settled (urgent: a non-streamed answer would go out now), and only in the journal.
    expect(batches).not.toHaveBeenCalled();
    expect(upserts).not.toHaveBeenCalled();
    const mine = journal().filter((record) => record.usage.userId === user);
    expect(mine).toHaveLength(1);
    expect(mine[0].usage).toMatchObject({ promptTokens: 12, completionTokens: 3 });
    expect(mine[0].seq).toBeGreaterThan(await watermark());
  });

  it('applies the journal in one transaction, summed per row, with the watermark, before a report reads', async () => {
    const user = randomUUID();
    const [key, team] = [randomUUID(), randomUUID()];
    // A new counter starts from the tables, so its first reservation applies what is pending.
    const held = [];
    for (let i = 0; i < 3; i += 1) held.push(await reserveFor(user, key, team));
    batches.mockClear();
    for (const [i, reservation] of held.entries()) {
      await budget.settle(reservation, 'gpt-4o-mini', {
        promptTokens: 10 * (i + 1),
        completionTokens: 1,
      });
    }
    const last = journal().at(-1)!.seq;
    expect(batches).not.toHaveBeenCalled();

    // The report flushes first (read-your-writes), so it sees all three.
    const own = await t.app.get(UsageService).own({ userId: user, authMethod: 'jwt' });
    expect(own.totals).toMatchObject({ requests: 3, totalTokens: 63 });
    expect(batches).toHaveBeenCalledTimes(1);
    const statements = batches.mock.calls[0][0];
    // This user's row, its key's and its team's: one upsert each, summed, then the watermark.
    const rowFor = (value: string) => statements.find((s) => s.params.includes(value));
    expect(rowFor(user)?.params).toEqual([
      user,
      utcDay(),
      'gpt-4o-mini',
      60,
      3,
      3,
      0,
      0,
      expect.any(Number),
    ]);
    expect(rowFor(usageSubject('key', key))?.params.slice(0, 5)).toEqual([
      usageSubject('key', key),
      utcDay(),
      63,
      expect.any(Number),
      3,
    ]);
    expect(rowFor(usageSubject('team', team))?.params[2]).toBe(63);
    expect(statements.at(-1)?.sql).toMatch(/journal_watermarks/);
    expect(await watermark()).toBe(last);
    const spend = await t.app
      .get(PolicyUsageRepository)
      .total(usageSubject('team', team), utcDay(), utcDay());
    expect(spend.tokens).toBe(63);
  });

  it('retries a failed batch on its own, without losing or doubling it', async () => {
    const user = randomUUID();
    const [first, second] = [
      await reserveFor(user, randomUUID(), randomUUID()),
      await reserveFor(user, randomUUID(), randomUUID()),
    ];
    batches.mockClear();
    // The database refuses the first batch once (as on an outage), then works.
    batches.mockRejectedValueOnce(new Error('database unavailable'));
    await budget.settle(first, 'm', { promptTokens: 5, completionTokens: 5 });
    await budget.flush(); // the refused batch: logged, kept
    expect(batches).toHaveBeenCalledTimes(1);
    await budget.settle(second, 'm', { promptTokens: 1, completionTokens: 1 });
    // Retried within the retry delay (1 s), with the second settlement, as one batch.
    await eventually(async () => (await watermark()) >= journal().at(-1)!.seq, 10_000);
    const rows = await database.query<{ requests: number; prompt_tokens: number }>(
      'select requests, prompt_tokens::int from chat_usage where user_id = $1',
      [user],
    );
    expect(rows).toEqual([{ requests: 2, prompt_tokens: 6 }]);
  });

  const devFull = existsSync('/dev/full') ? it : it.skip;
  devFull(
    'writes directly, and only then acknowledges, when the journal cannot be appended to (disk full)',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'keyward-journal-full-'));
      const usage = t.app.get(UsageRepository);
      const policy = t.app.get(PolicyUsageRepository);
      const ledger = new JournalUsageLedger(
        new UsageJournal(dir),
        database,
        usage,
        policy,
        new DirectUsageLedger(usage, policy),
        60_000,
      );
      try {
        await ledger.onModuleInit();
        // The segment the next record opens is a device that answers every write with ENOSPC.
        const next = (await watermark()) + 1;
        symlinkSync('/dev/full', join(dir, `${String(next).padStart(16, '0')}.jsonl`));
        const user = randomUUID();
        await ledger.record(
          {
            usage: {
              userId: user,
              day: utcDay(),
              model: 'm',
              promptTokens: 7,
              completionTokens: 2,
              cachedTokens: 0,
              reasoningTokens: 0,
              costNanos: 0,
            },
            policy: [],
          },
          'urgent',
        );
        // Resolved only once the row is committed, with no journal and no watermark involved.
        expect(upserts).toHaveBeenCalledTimes(1);
        expect(batches).not.toHaveBeenCalled();
        const rows = await database.query<{ requests: number; prompt_tokens: number }>(
          'select requests, prompt_tokens::int from chat_usage where user_id = $1',
          [user],
        );
        expect(rows).toEqual([{ requests: 1, prompt_tokens: 7 }]);
        expect(await watermark()).toBe(next - 1);
        expect(t.logs.join('\n')).toMatch(/usage journal: append failed .*ENOSPC/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
