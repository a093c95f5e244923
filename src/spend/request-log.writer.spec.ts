import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigService } from '@nestjs/config';
import { loadConfig } from '../config/configuration';
import type { DatabaseService } from '../database/database.service';
import { MetricsService } from '../metrics/metrics.service';
import { redact } from './redaction';
import { type RequestLogEntry, RequestLogWriter } from './request-log.writer';
import type { TeamLookup } from './team-lookup';

/** The database as the writer sees it: records each statement, or fails while "down". */
class RecordingDatabase {
  statements: Array<{ text: string; params: unknown[] }> = [];
  down = false;

  run(text: string, params: unknown[]): Promise<void> {
    if (this.down) return Promise.reject(new Error('connection refused'));
    this.statements.push({ text, params });
    return Promise.resolve();
  }

  /** Rows written so far (each INSERT has one array parameter per column: 18 of them). */
  get rows(): unknown[][] {
    return this.statements.flatMap(({ params }) => {
      const columns = params as unknown[][];
      return columns[0].map((_, row) => columns.map((column) => column[row]));
    });
  }
}

/** Team "t-log" logs content; every other team does not. */
const teams: TeamLookup = {
  logsContent: (teamId) => Promise.resolve(teamId === 't-log'),
  names: () => Promise.resolve(new Map<string, string>()),
};

function setUp(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kw-request-log-'));
  const config = loadConfig({ DATA_DIR: dir, ...env }, dir);
  const database = new RecordingDatabase();
  const metrics = new MetricsService(new ConfigService(config));
  const writer = new RequestLogWriter(
    new ConfigService(config),
    database as unknown as DatabaseService,
    metrics,
    teams,
  );
  return { writer, database, metrics };
}

function entry(overrides: Partial<RequestLogEntry> = {}): RequestLogEntry {
  return {
    time: new Date('2026-11-30T12:00:00Z'),
    requestId: 'req-1',
    userId: 'u1',
    keyId: null,
    teamId: null,
    route: '/v1/chat/completions',
    model: 'gpt-4o-mini',
    status: '200',
    promptTokens: 10,
    cachedTokens: 0,
    completionTokens: 5,
    reasoningTokens: 0,
    costNanos: 4500,
    keywardMs: 1,
    upstreamMs: 20,
    ttftMs: null,
    stream: false,
    ...overrides,
  };
}

describe('RequestLogWriter', () => {
  it('writes buffered rows as one INSERT', async () => {
    const { writer, database } = setUp({ REQUEST_LOG_FLUSH_MS: '60000' });
    void writer.add(entry({ requestId: 'a' }));
    void writer.add(entry({ requestId: 'b' }));
    void writer.add(entry({ requestId: 'c' }));
    expect(database.statements).toHaveLength(0); // nothing on the caller's path
    await writer.flush();
    expect(database.statements).toHaveLength(1);
    expect(database.rows.map((row) => row[1])).toEqual(['a', 'b', 'c']);
  });

  it('writes a batch as soon as REQUEST_LOG_BATCH_ROWS rows wait', async () => {
    const { writer, database } = setUp({
      REQUEST_LOG_FLUSH_MS: '60000',
      REQUEST_LOG_BATCH_ROWS: '2',
    });
    void writer.add(entry());
    void writer.add(entry());
    await new Promise((resolve) => setImmediate(resolve));
    expect(database.rows).toHaveLength(2);
    await writer.flush();
  });

  it('keeps rows while the database is down, bounded: the excess is dropped and counted', async () => {
    const { writer, database, metrics } = setUp({
      REQUEST_LOG_FLUSH_MS: '60000',
      REQUEST_LOG_BATCH_ROWS: '2',
      REQUEST_LOG_MAX_BUFFER: '3',
    });
    database.down = true;
    for (let i = 0; i < 10; i += 1) void writer.add(entry({ requestId: `r${i}` }));
    await writer.flush();
    expect(writer.dropped).toBe(7);
    expect(await metrics.requestLogDropped.get()).toMatchObject({ values: [{ value: 7 }] });
    database.down = false;
    await writer.flush();
    // r0 and r1 were in the failed write; by then r2–r4 filled the buffer, so they were dropped.
    expect(database.rows.map((row) => row[1])).toEqual(['r2', 'r3', 'r4']);
  });

  it('stores content only for a team that logs it, redacted', async () => {
    const { writer, database } = setUp({
      REQUEST_LOG_FLUSH_MS: '60000',
      REQUEST_LOG_REDACT: JSON.stringify(['secret-\\d+']),
    });
    const content = () => ({
      prompt: 'mail bob@example.com key sk-abcdefghijklmnop card 4111 1111 1111 1111 secret-42',
      completion: 'use kw_abcdefghijkl',
    });
    void writer.add(entry({ teamId: 't-log', content }));
    void writer.add(entry({ teamId: 't-quiet', content }));
    void writer.add(entry({ teamId: null, content }));
    await writer.flush();
    const stored = database.rows.map((row) => row[17]);
    expect(JSON.parse(stored[0] as string)).toEqual({
      prompt: 'mail [REDACTED] key [REDACTED] card [REDACTED] [REDACTED]',
      completion: 'use [REDACTED]',
    });
    expect(stored.slice(1)).toEqual([null, null]);
  });
});

describe('redact', () => {
  it('replaces every match of every pattern, repeatedly', () => {
    const patterns = [/a+/gu, /\d/gu];
    expect(redact('aa1 b a2', patterns)).toBe('[REDACTED][REDACTED] b [REDACTED][REDACTED]');
    expect(redact('aa1 b a2', patterns)).toBe('[REDACTED][REDACTED] b [REDACTED][REDACTED]');
  });
});

describe('RequestLogWriter at shutdown', () => {
  it('writes what is buffered, then hands later rows their write to wait for', async () => {
    const { writer, database } = setUp({ REQUEST_LOG_FLUSH_MS: '60000' });
    expect(writer.add(entry({ requestId: 'before' }))).toBeUndefined();
    await writer.beforeApplicationShutdown();
    expect(database.rows.map((row) => row[1])).toEqual(['before']);
    // A stream finishing during shutdown: its settlement waits for this promise.
    const write = writer.add(entry({ requestId: 'during' }));
    expect(write).toBeInstanceOf(Promise);
    await write;
    expect(database.rows.map((row) => row[1])).toEqual(['before', 'during']);
  });
});
