import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Client } from 'pg';
import { acquireDataDirLock } from '../src/database/data-dir-lock';
import { USAGE_JOURNAL_DIR, UsageJournal } from '../src/usage/usage-journal';
import { cliDataDir, runCliIn } from './support/cli';
import { uniqueName } from './support/test-app';

/**
 * docs/database.md "The usage journal": `npm run cli -- journal apply` applies a journal left
 * in DATA_DIR by a crash to the configured database (the embedded one here, PostgreSQL under
 * `npm run test:services`) with the replay a start runs: each record exactly once, and never
 * while another process holds DATA_DIR.
 */

/** Each command opens the database anew: slow on a loaded 2-core machine. */
const CLI_TIMEOUT_MS = 120_000;

describe('CLI: journal apply', () => {
  let dataDir: string;
  let journalDir: string;
  beforeAll(() => {
    dataDir = cliDataDir('keyward-journal-cli-');
    journalDir = join(dataDir, USAGE_JOURNAL_DIR);
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  /** One query on the CLI's database, while no CLI has it open. */
  async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (process.env.DATABASE_URL) {
      const client = new Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      try {
        return (await client.query(sql, params)).rows as T[];
      } finally {
        await client.end();
      }
    }
    const db = await PGlite.create(join(dataDir, 'pgdata'));
    try {
      return (await db.query<T>(sql, params)).rows;
    } finally {
      await db.close();
    }
  }
  const watermark = async () =>
    Number(
      (
        await query<{ seq: string }>(
          "select applied_seq as seq from journal_watermarks where journal = 'usage'",
        )
      )[0]?.seq ?? 0,
    );
  const usageOf = async (userId: string, subject: string) => ({
    usage: await query<{ requests: number; tokens: number }>(
      `select requests, (prompt_tokens + completion_tokens)::int as tokens
         from chat_usage where user_id = $1`,
      [userId],
    ),
    policy: await query<{ requests: number; tokens: number }>(
      'select requests, tokens::int as tokens from policy_usage where subject = $1',
      [subject],
    ),
  });
  const segments = () => readdirSync(journalDir).filter((name) => name.endsWith('.jsonl'));
  const cli = () => runCliIn(dataDir, ['journal', 'apply']);

  it(
    'applies the records a crash left, exactly once, and refuses while DATA_DIR is held',
    async () => {
      expect(await cli()).toMatchObject({
        code: 0,
        out: expect.stringMatching(/no usage journal/),
      });

      // What a killed server leaves: appended records, numbered on from the watermark.
      const userId = uniqueName('journal-cli');
      const subject = `key:${userId}`;
      const day = new Date().toISOString().slice(0, 10);
      const journal = new UsageJournal(journalDir);
      journal.read();
      journal.start((await watermark()) + 1);
      for (const tokens of [10, 20, 30]) {
        journal.append({
          usage: {
            userId,
            day,
            model: 'gpt-4o-mini',
            promptTokens: tokens,
            completionTokens: 1,
            cachedTokens: 0,
            reasoningTokens: 0,
            costNanos: 100,
          },
          policy: [{ subject, day, tokens: tokens + 1, costNanos: 100 }],
        });
      }
      journal.close();
      const saved = new Map(segments().map((name) => [name, readFileSync(join(journalDir, name))]));
      expect(saved.size).toBe(1);

      // Never while another process owns DATA_DIR (the embedded database, and its journal).
      const release = acquireDataDirLock(dataDir);
      try {
        const refused = await cli();
        expect(refused.code).toBe(1);
        expect(refused.err).toMatch(/DATA_DIR .* is in use by another Keyward process/);
      } finally {
        release();
      }
      expect(segments()).toEqual([...saved.keys()]);

      const applied = await cli();
      expect(applied).toMatchObject({
        code: 0,
        out: 'usage journal: 3 record(s) applied, 0 already applied\n',
      });
      expect(segments()).toEqual([]);
      const expected = {
        usage: [{ requests: 3, tokens: 63 }],
        policy: [{ requests: 3, tokens: 63 }],
      };
      expect(await usageOf(userId, subject)).toEqual(expected);

      // Again: nothing left. With the applied segment put back (a crash after the commit,
      // before the delete), and a torn last write: skipped by the watermark, never counted twice.
      expect((await cli()).out).toBe('usage journal: 0 record(s) applied, 0 already applied\n');
      for (const [name, content] of saved) writeFileSync(join(journalDir, name), content);
      const torn = '0badc0de {"seq":';
      writeFileSync(join(journalDir, [...saved.keys()][0]), torn, { flag: 'a' });
      expect((await cli()).out).toBe(
        `usage journal: 0 record(s) applied, 3 already applied, ${torn.length} byte(s) of a cut-short last write ignored\n`,
      );
      expect(await usageOf(userId, subject)).toEqual(expected);
    },
    CLI_TIMEOUT_MS * 3,
  );
});
