import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { runCli } from '../src/cli';
import { LOCK_FILE } from '../src/database/data-dir-lock';
import { DatabaseService } from '../src/database/database.service';
import { migrationsFolder } from '../src/database/migrations-folder';
import { PgliteWorkerClient } from '../src/database/pglite-worker.client';
import { chatUsage } from '../src/database/schema';
import { startProcessApp } from './support/process-app';
import { createTestApp, type TestApp, uniqueName } from './support/test-app';

/**
 * The embedded database (PGlite in a worker thread, one owner per DATA_DIR). It runs on
 * PGlite in every suite run, `npm run test:services` included: these are its own rules.
 */
const EMBEDDED = { DATABASE_URL: '' };

/** `execute()` is typed per driver; both drivers answer `{ rows }`. */
async function rows<T>(query: PromiseLike<unknown>): Promise<T[]> {
  return ((await query) as { rows: T[] }).rows;
}

describe('Embedded database (PGlite in a worker thread)', () => {
  let t: TestApp;
  let db: DatabaseService;
  beforeAll(async () => {
    t = await createTestApp(EMBEDDED);
    await t.listen();
    db = t.app.get(DatabaseService);
    expect(db.kind).toBe('pglite');
  });
  afterAll(() => t?.close());

  it('answers HTTP while a query is running: queries are off the event-loop thread', async () => {
    let slowDone = false;
    const slow = db.db.execute(sql`select pg_sleep(5)`).then(() => (slowDone = true));
    const live = await fetch(`${t.url}/health/live`);
    // On the main thread, PGlite's pg_sleep would block this request until it finished.
    expect(live.status).toBe(200);
    expect(slowDone).toBe(false);
    await slow;
    expect(slowDone).toBe(true);
  });

  it('commits a transaction, rolls back one that throws, and keeps SQLSTATEs', async () => {
    const committed = uniqueName('tx_ok');
    const rolledBack = uniqueName('tx_fail');
    const row = (userId: string) => ({ userId, day: '2026-01-01', model: 'm', requests: 1 });
    await db.db.transaction(async (tx) => {
      await tx.insert(chatUsage).values(row(committed));
    });
    await expect(
      db.db.transaction(async (tx) => {
        await tx.insert(chatUsage).values(row(rolledBack));
        throw new Error('abort this one');
      }),
    ).rejects.toThrow('abort this one');
    const found = await rows<{ user_id: string }>(
      db.db.execute(
        sql`select user_id from chat_usage where user_id in (${committed}, ${rolledBack})`,
      ),
    );
    expect(found.map((r) => r.user_id)).toEqual([committed]);

    // A primary-key clash arrives with PostgreSQL's code on the cause, as from pg.
    const clash = await db.db
      .insert(chatUsage)
      .values(row(committed))
      .catch((error: unknown) => error);
    expect((clash as { cause?: { code?: string } }).cause?.code).toBe('23505');
  });

  it('holds other queries while a transaction is open, as one connection does', async () => {
    const user = uniqueName('tx_order');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const open = db.db.transaction(async (tx) => {
      await tx.insert(chatUsage).values({ userId: user, day: '2026-01-02', model: 'm' });
      await gate;
    });
    // Issued while the transaction holds the connection: it runs after COMMIT and sees the row.
    const outside = rows<{ n: number }>(
      db.db.execute(sql`select count(*)::int as n from chat_usage where user_id = ${user}`),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await open;
    expect((await outside)[0].n).toBe(1);
  });

  it('reads dates, arrays and JSON as on PostgreSQL (Drizzle maps them)', async () => {
    const result = await rows<{ d: string; a: string[]; j: { k: number } }>(
      db.db.execute(
        sql`select '2026-03-04'::date as d, array['x','y']::text[] as a, '{"k":1}'::jsonb as j`,
      ),
    );
    expect(result[0]).toEqual({ d: '2026-03-04', a: ['x', 'y'], j: { k: 1 } });
  });
});

describe('A new embedded data directory (initdb in a child process that exits)', () => {
  let root: string;
  beforeAll(() => (root = mkdtempSync(join(tmpdir(), 'keyward-initdb-'))));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is created and migrated, then opened by the worker', async () => {
    const dir = join(root, 'fresh');
    const client = await PgliteWorkerClient.open(dir, migrationsFolder());
    try {
      expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
      const applied = await client.query<{ n: number }>(
        'select count(*)::int as n from drizzle.__drizzle_migrations',
      );
      const journal = JSON.parse(
        readFileSync(join(migrationsFolder(), 'meta', '_journal.json'), 'utf8'),
      ) as { entries: unknown[] };
      expect(applied.rows[0].n).toBe(journal.entries.length);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('takes a later migration on a restart, from the main thread through the worker', async () => {
    // What DatabaseService does on every start: the worker only opens the directory.
    const journal = (tags: string[]) =>
      JSON.stringify({
        version: '7',
        dialect: 'postgresql',
        entries: tags.map((tag, idx) => ({
          idx,
          version: '7',
          when: idx + 1,
          tag,
          breakpoints: true,
        })),
      });
    const folder = join(root, 'two-migrations');
    mkdirSync(join(folder, 'meta'), { recursive: true });
    writeFileSync(join(folder, '0000_first.sql'), 'CREATE TABLE first_table (id int);');
    writeFileSync(join(folder, 'meta', '_journal.json'), journal(['0000_first']));
    const dir = join(root, 'restarted');
    await (await PgliteWorkerClient.open(dir, folder)).close();

    writeFileSync(join(folder, '0001_second.sql'), 'CREATE TABLE second_table (id int);');
    writeFileSync(join(folder, 'meta', '_journal.json'), journal(['0000_first', '0001_second']));
    const client = await PgliteWorkerClient.open(dir, folder);
    try {
      const before = await client.query<{ n: number }>(
        "select count(*)::int as n from pg_tables where tablename = 'second_table'",
      );
      expect(before.rows[0].n).toBe(0);
      await migrate(drizzle({ client: client.asPglite() }), { migrationsFolder: folder });
      const after = await client.query<{ n: number }>(
        'select count(*)::int as n from drizzle.__drizzle_migrations',
      );
      expect(after.rows[0].n).toBe(2);
      await client.query('insert into second_table (id) values (1)');
    } finally {
      await client.close();
    }
  }, 120_000);

  it('reports a migration that fails there, with the failing statement', async () => {
    const folder = join(root, 'broken-migrations');
    mkdirSync(join(folder, 'meta'), { recursive: true });
    writeFileSync(
      join(folder, '0000_broken.sql'),
      'CREATE TABLE broken (id int REFERENCES nowhere(id));',
    );
    writeFileSync(
      join(folder, 'meta', '_journal.json'),
      JSON.stringify({
        version: '7',
        dialect: 'postgresql',
        entries: [{ idx: 0, version: '7', when: 1, tag: '0000_broken', breakpoints: true }],
      }),
    );
    await expect(PgliteWorkerClient.open(join(root, 'broken'), folder)).rejects.toThrow(
      'Failed query: CREATE TABLE broken',
    );
  }, 120_000);
});

describe('DATA_DIR has one owner', () => {
  const password = 'a-long-and-unusual-password-17';
  let dataDir: string;
  beforeAll(() => (dataDir = mkdtempSync(join(tmpdir(), 'keyward-owner-'))));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function cli(args: string[]): Promise<{ code: number; err: string }> {
    const stdin = new PassThrough();
    stdin.end(`${password}\n`);
    let err = '';
    const code = await runCli(
      args,
      {
        stdin,
        stdout: { write: () => true },
        stderr: { write: (text: string) => ((err += text), true) },
      },
      { NODE_ENV: 'test', DATA_DIR: dataDir },
    );
    return { code, err };
  }

  it('first start on an empty DATA_DIR; the CLI refuses while the server runs, works after', async () => {
    // An empty directory: the server runs initdb (in a child process that exits) itself.
    const env = {
      DATA_DIR: dataDir,
      OPENAI_API_KEY: 'sk-unused',
      BOOTSTRAP_ADMIN_USERNAME: 'owner_admin',
      BOOTSTRAP_ADMIN_PASSWORD: password,
      LOG_LEVEL: 'warn',
    };
    const app = await startProcessApp(env, 120_000);
    try {
      const lock = JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')) as { pid: number };
      expect(lock.pid).toBe(app.child.pid);
      const refused = await cli(['users', 'create', 'second_admin', '--password-stdin']);
      expect(refused.code).toBe(1);
      expect(refused.err).toContain(`in use by another Keyward process (pid ${app.child.pid}`);
      expect(refused.err).toContain('POST /api/v1/admin/users');
      // A second server is refused the same way: main.ts opens the embedded database before it
      // loads the application (docs/database.md "Memory and start time"), and the lock's
      // refusal is reported as the start's failure, not lost or thrown unhandled.
      await expect(startProcessApp(env, 60_000)).rejects.toThrow(
        `in use by another Keyward process (pid ${app.child.pid}`,
      );
      // The server still works (the CLI did not open the database beside it).
      const token = await fetch(`${app.url}/api/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'password', username: 'owner_admin', password }),
      });
      expect(token.status).toBe(200);
    } finally {
      await app.stop();
    }
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
    const created = await cli(['users', 'create', 'second_admin', '--password-stdin']);
    expect(created).toEqual({ code: 0, err: '' });
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
  }, 240_000);

  it('a server killed with SIGKILL leaves a lock the next owner takes over', async () => {
    const app = await startProcessApp(
      { DATA_DIR: dataDir, OPENAI_API_KEY: 'sk-unused', LOG_LEVEL: 'warn' },
      120_000,
    );
    app.child.kill('SIGKILL');
    await app.exited;
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(true);
    const listed = await cli(['users', 'list']);
    expect(listed).toEqual({ code: 0, err: '' });
  }, 240_000);
});
