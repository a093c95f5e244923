import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { USAGE_JOURNAL_DIR, UsageJournal } from '../src/usage/usage-journal';
import { type MockOpenAI, startMockOpenAI } from '../tools/mock-openai/mock-openai';
import { PASSWORD } from './support/auth-helpers';
import { templateDir } from './support/pglite-template';
import { type ProcessApp, startProcessApp } from './support/process-app';

/**
 * docs/database.md "The usage journal": on the embedded database an acknowledged call's usage
 * is a line in DATA_DIR/usage-journal before it is a row. Keyward is killed between the
 * append and the apply, restarted, restarted again with already-applied records put back and
 * a torn tail, and once with a damaged record: each record is applied exactly once, and a
 * damaged journal stops the start with a message instead of losing usage silently.
 * PostgreSQL does not use the journal: these processes run on the embedded database in
 * `npm run test:services` too (`DATABASE_URL` emptied), so the suite never skips.
 */

type Json = Record<string, unknown>;

async function call(url: string, method: string, path: string, token?: string, body?: Json) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Json };
}

async function signIn(url: string, username: string): Promise<string> {
  const res = await call(url, 'POST', '/api/v1/auth/token', undefined, {
    grant_type: 'password',
    username,
    password: PASSWORD,
  });
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

describe('Usage journal (embedded database): kill between append and apply', () => {
  let mock: MockOpenAI;
  let dataDir: string;
  let journalDir: string;
  let env: Record<string, string>;
  let app: ProcessApp | undefined;
  const admin = `journal_admin_${Date.now()}`;

  beforeAll(async () => {
    mock = await startMockOpenAI({ apiKey: 'sk-mock-keyward' });
    dataDir = mkdtempSync(join(tmpdir(), 'keyward-journal-'));
    journalDir = join(dataDir, USAGE_JOURNAL_DIR);
    cpSync(join(templateDir(), 'pgdata'), join(dataDir, 'pgdata'), { recursive: true });
    env = {
      DATA_DIR: dataDir,
      DATABASE_URL: '',
      OPENAI_API_KEY: 'sk-mock-keyward',
      OPENAI_BASE_URL: mock.url,
      BOOTSTRAP_ADMIN_USERNAME: admin,
      BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
      LOG_LEVEL: 'info',
    };
  }, 60_000);

  afterAll(async () => {
    if (app && app.child.exitCode === null && app.child.signalCode === null) await app.stop();
    await mock?.close();
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  /** The user's usage rows and the journal's watermark, read from the stopped process's data. */
  async function tables(userId: string) {
    const db = await PGlite.create(join(dataDir, 'pgdata'));
    try {
      const usage = await db.query<{ requests: number; tokens: number }>(
        `select coalesce(sum(requests), 0)::int as requests,
                coalesce(sum(prompt_tokens + completion_tokens), 0)::int as tokens
           from chat_usage where user_id = $1`,
        [userId],
      );
      const mark = await db.query<{ seq: number }>(
        "select applied_seq::int as seq from journal_watermarks where journal = 'usage'",
      );
      return { ...usage.rows[0], watermark: mark.rows[0]?.seq ?? 0 };
    } finally {
      await db.close();
    }
  }

  const segments = () => readdirSync(journalDir).filter((name) => name.endsWith('.jsonl'));

  it('applies each acknowledged record exactly once across a kill, restarts and a torn tail', async () => {
    // A long apply window: every answer below is acknowledged with its usage only in the journal.
    app = await startProcessApp({ ...env, USAGE_JOURNAL_APPLY_MS: '60000' });
    const adminToken = await signIn(app.url, admin);
    const username = `journal_user_${Date.now().toString(36)}`;
    const created = await call(app.url, 'POST', '/api/v1/admin/users', adminToken, {
      username,
      password: PASSWORD,
      roles: ['user'],
    });
    expect(created.status).toBe(201);
    const userId = created.body.id as string;
    const token = await signIn(app.url, username);
    let tokens = 0;
    const CALLS = 4;
    for (let i = 0; i < CALLS; i += 1) {
      const res = await call(app.url, 'POST', '/api/v1/chat', token, {
        messages: [{ role: 'user', content: `journal call ${i}` }],
      });
      expect(res.status).toBe(200);
      tokens += (res.body.usage as { totalTokens: number }).totalTokens;
    }
    app.child.kill('SIGKILL');
    expect(await app.exited).toEqual({ code: null, signal: 'SIGKILL' });

    // Killed between append and apply: the records are in the journal, not in the tables.
    const killed = new UsageJournal(journalDir).read();
    const mine = killed.records.filter((record) => record.usage.userId === userId);
    expect(mine).toHaveLength(CALLS);
    expect(await tables(userId)).toEqual({ requests: 0, tokens: 0, watermark: 0 });
    const saved = new Map(segments().map((name) => [name, readFileSync(join(journalDir, name))]));

    // Restart: replayed before serving, so the report (and the budget) already count them.
    app = await startProcessApp(env);
    expect(app.output.join('')).toMatch(
      new RegExp(`usage journal: ${killed.records.length} record\\(s\\) applied at start`),
    );
    const report = await call(app.url, 'GET', '/api/v1/usage', await signIn(app.url, username));
    expect(report.body.totals).toMatchObject({ requests: CALLS, totalTokens: tokens });
    await app.stop();
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(await tables(userId)).toEqual({
      requests: CALLS,
      tokens,
      watermark: killed.lastSeq,
    });
    // Applied and emptied: nothing left to replay.
    expect(segments()).toEqual([]);

    // As if killed after the apply committed but before the journal was emptied, and in the
    // middle of a last write: the applied records are skipped (watermark), the torn tail ignored.
    for (const [name, content] of saved) writeFileSync(join(journalDir, name), content);
    const last = [...saved.keys()].sort().at(-1)!;
    const torn = '0badc0de {"seq":99,"userId":"torn';
    appendFileSync(join(journalDir, last), torn);
    app = await startProcessApp(env);
    expect(app.output.join('')).toMatch(
      new RegExp(
        `usage journal: 0 record\\(s\\) applied at start, ${killed.records.length} already applied, ${torn.length} byte\\(s\\)`,
      ),
    );
    await app.stop();
    expect(await tables(userId)).toEqual({
      requests: CALLS,
      tokens,
      watermark: killed.lastSeq,
    });

    // A damaged record with intact ones after it: the start stops and says where; the
    // journal is left as it is for the operator.
    const lines = saved.get(last)!.toString('utf8').split('\n');
    lines[0] = lines[0].replace('"promptTokens":', '"promptTokens":1');
    writeFileSync(join(journalDir, last), lines.join('\n'));
    const refused = await startProcessApp(env).then(
      (started) => {
        app = started;
        return 'started';
      },
      (error: Error) => error.message,
    );
    expect(refused).toMatch(/usage journal damaged at .*line 1 \(checksum mismatch\)/);
    expect(existsSync(join(journalDir, last))).toBe(true);
    expect(await tables(userId)).toMatchObject({ requests: CALLS, tokens });
  }, 180_000);
});
