import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Client } from 'pg';
import { runCli } from '../src/cli';
import { type MockOpenAI, startMockOpenAI } from '../tools/mock-openai/mock-openai';
import { PASSWORD } from './support/auth-helpers';
import { templateDir } from './support/pglite-template';
import { eventually } from './support/chat-harness';
import { ensureAdmin } from './support/process-admin';
import { type ProcessApp, startProcessApp } from './support/process-app';

/**
 * docs/reference.md "Tokens" and "Chat", issue 8 §5: Keyward is SIGKILLed in the middle of a burst
 * of refresh-token rotations and billed chat requests, then restarted on the same data. What the
 * clients were told must still hold: no session is stranded by a half-written rotation, no
 * acknowledged usage is lost or counted twice, and the audit chain still verifies.
 */
const USERS = 3;
const SESSIONS_PER_USER = 2;
const BURST_MS = 2500;

interface Session {
  readonly user: string;
  /** The refresh token of the last 200 the client received. */
  lastGood: string;
  rotations: number;
  /** A refresh was in flight when the process died (its answer never arrived). */
  inFlight: boolean;
  /** A status other than 200 while the process was up: the burst itself went wrong. */
  unexpected?: number;
}

interface Billing {
  acknowledged: number;
  acknowledgedTokens: number;
  attempted: number;
  unexpected?: number;
}

type Json = Record<string, unknown>;

async function post(url: string, path: string, body: Json, token?: string) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Json };
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** Plain SQL against whichever database the process used (PGlite data dir or DATABASE_URL). */
async function withDatabase<T>(
  dataDir: string,
  work: (query: <R>(sql: string, params?: unknown[]) => Promise<R[]>) => Promise<T>,
): Promise<T> {
  if (process.env.DATABASE_URL) {
    const client = new Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      return await work(async <R>(sql: string, params: unknown[] = []) => {
        const result = await client.query(sql, params);
        return result.rows as R[];
      });
    } finally {
      await client.end();
    }
  }
  const db = await PGlite.create(join(dataDir, 'pgdata'));
  try {
    return await work(async <R>(sql: string, params: unknown[] = []) => {
      const result = await db.query<R>(sql, params);
      return result.rows;
    });
  } finally {
    await db.close();
  }
}

describe('Crash recovery (SIGKILL during refresh rotations and usage writes)', () => {
  let mock: MockOpenAI;
  let dataDir: string;
  let env: Record<string, string>;
  let app: ProcessApp | undefined;
  const users: { id: string; username: string }[] = [];
  const sessions: Session[] = [];
  const billing = new Map<string, Billing>();
  let chatToken: Map<string, string>;

  beforeAll(async () => {
    mock = await startMockOpenAI({ apiKey: 'sk-mock-keyward' });
    dataDir = mkdtempSync(join(tmpdir(), 'keyward-crash-'));
    const admin = `crash_admin_${Date.now()}`;
    env = {
      DATA_DIR: dataDir,
      OPENAI_API_KEY: 'sk-mock-keyward',
      OPENAI_BASE_URL: mock.url,
      BOOTSTRAP_ADMIN_USERNAME: admin,
      BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
      CHAT_RPM: '100000',
      CHAT_DAILY_TOKENS: '100000000',
      // The refresh storm comes from one address; the per-address limit is not under test.
      AUTH_PUBLIC_RPM: '1000000',
      LOG_LEVEL: 'warn',
    };
    if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
    else cpSync(join(templateDir(), 'pgdata'), join(dataDir, 'pgdata'), { recursive: true });
    // test:services: the shared audit chain's key, also for the CLI's `audit verify` below.
    if (process.env.AUDIT_HMAC_KEY) env.AUDIT_HMAC_KEY = process.env.AUDIT_HMAC_KEY;
    await ensureAdmin(admin, PASSWORD, env);
    app = await startProcessApp(env);
    const adminToken = (
      await post(app.url, '/api/v1/auth/token', {
        grant_type: 'password',
        username: admin,
        password: PASSWORD,
      })
    ).body.access_token as string;
    for (let i = 0; i < USERS; i += 1) {
      const username = `crash_${process.pid}_${Date.now().toString(36)}_${i}`;
      const created = await post(
        app.url,
        '/api/v1/admin/users',
        { username, password: PASSWORD, roles: ['user'] },
        adminToken,
      );
      expect(created.status).toBe(201);
      users.push({ id: created.body.id as string, username });
    }
    chatToken = new Map();
    for (const user of users) {
      billing.set(user.id, { acknowledged: 0, acknowledgedTokens: 0, attempted: 0 });
      for (let s = 0; s < SESSIONS_PER_USER; s += 1) {
        const login = await post(app.url, '/api/v1/auth/token', {
          grant_type: 'password',
          username: user.username,
          password: PASSWORD,
        });
        expect(login.status).toBe(200);
        sessions.push({
          user: user.id,
          lastGood: login.body.refresh_token as string,
          rotations: 0,
          inFlight: false,
        });
        chatToken.set(user.id, login.body.access_token as string);
      }
    }
  }, 90_000);

  afterAll(async () => {
    if (app && app.child.exitCode === null && app.child.signalCode === null) await app.stop();
    await mock?.close();
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('survives SIGKILL mid-burst: no stranded session, no lost or doubled usage, audit intact', async () => {
    const running = app!;
    let stop = false;
    const refresher = async (session: Session) => {
      while (!stop) {
        session.inFlight = true;
        try {
          const res = await post(running.url, '/api/v1/auth/token', {
            grant_type: 'refresh_token',
            refresh_token: session.lastGood,
          });
          if (res.status !== 200) {
            session.unexpected = res.status;
            break;
          }
          session.lastGood = res.body.refresh_token as string;
          session.rotations += 1;
          session.inFlight = false;
        } catch {
          return; // the process is gone: inFlight stays true when an answer was lost
        }
      }
      session.inFlight = false;
    };
    const chatter = async (userId: string) => {
      const account = billing.get(userId)!;
      while (!stop) {
        account.attempted += 1;
        try {
          const res = await post(
            running.url,
            '/api/v1/chat',
            { messages: [{ role: 'user', content: 'count these words for the crash test' }] },
            chatToken.get(userId),
          );
          if (res.status !== 200) {
            account.unexpected = res.status;
            return;
          }
          account.acknowledged += 1;
          account.acknowledgedTokens += (res.body.usage as { totalTokens: number }).totalTokens;
        } catch {
          return;
        }
      }
    };
    const workers = [
      ...sessions.map((session) => refresher(session)),
      ...users.flatMap((user) => [chatter(user.id), chatter(user.id)]),
    ];
    await new Promise((resolve) => setTimeout(resolve, BURST_MS));
    // On a loaded machine the burst can take longer to get going: kill it only once it is one.
    const rotations = () => sessions.reduce((sum, s) => sum + s.rotations, 0);
    const acknowledged = () => [...billing.values()].reduce((sum, b) => sum + b.acknowledged, 0);
    await eventually(() => rotations() > USERS && acknowledged() > USERS, 30_000).catch(
      () => undefined, // the assertions below say what was missing
    );
    running.child.kill('SIGKILL');
    expect(await running.exited).toEqual({ code: null, signal: 'SIGKILL' });
    stop = true;
    await Promise.all(workers);
    expect(sessions.filter((s) => s.unexpected)).toEqual([]);
    expect([...billing.values()].filter((b) => b.unexpected)).toEqual([]);
    // The burst really was one: rotations and usage writes were happening when it died.
    expect(sessions.reduce((sum, s) => sum + s.rotations, 0)).toBeGreaterThan(USERS);
    expect([...billing.values()].reduce((sum, b) => sum + b.acknowledged, 0)).toBeGreaterThan(
      USERS,
    );

    // Restart on the same data. PGlite must reopen after an unclean stop.
    app = await startProcessApp(env);
    const restarted = app;

    // Every user can still sign in.
    for (const user of users) {
      const login = await post(restarted.url, '/api/v1/auth/token', {
        grant_type: 'password',
        username: user.username,
        password: PASSWORD,
      });
      expect({ user: user.username, status: login.status }).toEqual({
        user: user.username,
        status: 200,
      });
    }
    // Every session: the last refresh token the client received still works, or (only if
    // an answer was lost in flight) it is refused as reuse: a committed rotation whose
    // response never arrived, which revokes the family cleanly.
    const refusedAsReuse: string[] = [];
    for (const session of sessions) {
      const res = await post(restarted.url, '/api/v1/auth/token', {
        grant_type: 'refresh_token',
        refresh_token: session.lastGood,
      });
      if (res.status === 200) continue;
      expect({ inFlight: session.inFlight, status: res.status, body: res.body }).toEqual({
        inFlight: true,
        status: 400,
        body: {
          error: 'invalid_grant',
          error_description: expect.stringMatching(/already used/) as string,
        },
      });
      refusedAsReuse.push(session.lastGood);
    }
    await restarted.stop();
    expect(await restarted.exited).toEqual({ code: 0, signal: null });

    // Every request carries the same prompt, and the mock's usage is deterministic.
    const tokensPerRequest = () => {
      const some = [...billing.values()].find((b) => b.acknowledged > 0)!;
      return some.acknowledgedTokens / some.acknowledged;
    };
    const billed: string[] = [];
    await withDatabase(dataDir, async (query) => {
      // A token refused as reuse was rotated in a committed transaction: its successor is
      // there (a half-written rotation would have marked it used and stored nothing).
      for (const token of refusedAsReuse) {
        const [row] = await query<{ session_id: string; used_at: Date | null }>(
          'select session_id, used_at from refresh_tokens where token_hash = $1',
          [sha256(token)],
        );
        expect(row?.used_at).not.toBeNull();
        // Successor: a later token of the same family. (`used_at` is the app's clock and
        // `created_at` the database's transaction time, so they are not compared.)
        const successors = await query<{ n: number }>(
          `select count(*)::int as n from refresh_tokens t
            where t.session_id = $1 and t.token_hash <> $2
              and t.created_at >= (select created_at from refresh_tokens where token_hash = $2)`,
          [row.session_id, sha256(token)],
        );
        expect(successors[0].n).toBeGreaterThanOrEqual(1);
      }
      // No session has every token used while still live: that family could never refresh.
      const stranded = await query<{ id: string }>(
        `select s.id from auth_sessions s
          where s.revoked_at is null and s.user_id = any($1::uuid[])
            and not exists (select 1 from refresh_tokens t where t.session_id = s.id and t.used_at is null)`,
        [users.map((u) => u.id)],
      );
      expect(stranded).toEqual([]);

      // Usage: every acknowledged request is billed, none twice. The mock's usage is
      // deterministic, so tokens = requests x tokens-per-request exactly.
      for (const user of users) {
        const account = billing.get(user.id)!;
        const [row] = await query<{ requests: number; tokens: number }>(
          `select coalesce(sum(requests), 0)::int as requests,
                  coalesce(sum(prompt_tokens + completion_tokens), 0)::int as tokens
             from chat_usage where user_id = $1`,
          [user.id],
        );
        const perRequest = tokensPerRequest();
        billed.push(`${row.requests} requests, ${row.tokens} tokens`);
        expect(row.requests).toBeGreaterThanOrEqual(account.acknowledged);
        expect(row.requests).toBeLessThanOrEqual(account.attempted);
        expect(row.tokens).toBeGreaterThanOrEqual(account.acknowledgedTokens);
        expect(row.tokens).toBe(row.requests * perRequest);
      }
    });

    process.stdout.write(
      `crash-recovery: ${JSON.stringify({
        rotations: sessions.reduce((sum, s) => sum + s.rotations, 0),
        refreshesLostInFlight: sessions.filter((s) => s.inFlight).length,
        refusedAsReuse: refusedAsReuse.length,
        chats: [...billing.values()].map((b) => `${b.acknowledged}/${b.attempted}`),
        billed,
      })}\n`,
    );
    // The hash chain survived the crash (`npm run cli -- audit verify`).
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(
      ['audit', 'verify'],
      {
        stdin: process.stdin,
        stdout: { write: (chunk: string) => out.push(chunk) > 0 },
        stderr: { write: (chunk: string) => err.push(chunk) > 0 },
      },
      { NODE_ENV: 'test', ...env },
    );
    expect({ code, err: err.join('') }).toEqual({ code: 0, err: '' });
    expect(out.join('')).toMatch(/audit log intact: \d+ rows verified/);
  }, 120_000);
});
