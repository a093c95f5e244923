import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { sql } from 'drizzle-orm';
import request from 'supertest';
import { AuditService } from '../src/audit/audit.service';
import { runCli } from '../src/cli';
import { DatabaseService } from '../src/database/database.service';
import { createUser, login, PASSWORD, type TestUser } from './support/auth-helpers';
import { templateDir } from './support/pglite-template';
import { createTestApp, type TestApp, uniqueName } from './support/test-app';

describe('Admin users API and the audit log', () => {
  let t: TestApp;
  let admin: TestUser;
  let adminToken: string;
  let userToken: string;

  beforeAll(async () => {
    t = await createTestApp();
    admin = await createUser(t, ['admin'], 'admin');
    adminToken = (await login(t, admin)).access_token;
    userToken = (await login(t, await createUser(t))).access_token;
  });
  afterAll(() => t.close());

  const as = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('lets admins create, read, list and update users', async () => {
    const username = uniqueName('created');
    const created = await request(t.server)
      .post('/api/v1/admin/users')
      .set(as(adminToken))
      .send({ username, password: PASSWORD, roles: ['user'] })
      .expect(201);
    expect(created.body).toMatchObject({ username, roles: ['user'], disabled: false });
    expect(created.body).not.toHaveProperty('passwordHash');
    const id = created.body.id as string;
    await request(t.server).get(`/api/v1/admin/users/${id}`).set(as(adminToken)).expect(200);
    const list = await request(t.server).get('/api/v1/admin/users').set(as(adminToken)).expect(200);
    expect(list.body.map((u: { id: string }) => u.id)).toContain(id);
    const patched = await request(t.server)
      .patch(`/api/v1/admin/users/${id}`)
      .set(as(adminToken))
      .send({ roles: ['admin'], chatRpm: 5, chatDailyTokens: 1000 })
      .expect(200);
    expect(patched.body).toMatchObject({ roles: ['admin'], chatRpm: 5, chatDailyTokens: 1000 });
    await request(t.server)
      .patch(`/api/v1/admin/users/${id}`)
      .set(as(adminToken))
      .send({ chatRpm: null })
      .expect(200);
  });

  it('enforces the password policy and unique usernames', async () => {
    const weak = await request(t.server)
      .post('/api/v1/admin/users')
      .set(as(adminToken))
      .send({ username: uniqueName('weak'), password: 'password1234' })
      .expect(422);
    expect(weak.body.errors[0].field).toBe('password');
    await request(t.server)
      .post('/api/v1/admin/users')
      .set(as(adminToken))
      .send({ username: uniqueName('short'), password: 'short' })
      .expect(422);
    await request(t.server)
      .post('/api/v1/admin/users')
      .set(as(adminToken))
      .send({ username: admin.username.toUpperCase(), password: PASSWORD })
      .expect(409);
    await request(t.server)
      .post('/api/v1/admin/users')
      .set(as(adminToken))
      .send({ username: 'bad name!', password: PASSWORD })
      .expect(400);
  });

  it('refuses mass assignment and unknown roles', async () => {
    await request(t.server)
      .post('/api/v1/admin/users')
      .set(as(adminToken))
      .send({ username: uniqueName('mass'), password: PASSWORD, disabled: false, id: 'x' })
      .expect(400);
    await request(t.server)
      .patch(`/api/v1/admin/users/${admin.id}`)
      .set(as(adminToken))
      .send({ roles: ['root'] })
      .expect(400);
  });

  it('answers 403 to non-admins', async () => {
    const res = await request(t.server).get('/api/v1/admin/users').set(as(userToken)).expect(403);
    expect(res.body.type).toBe('urn:keyward:problem:forbidden');
    await request(t.server).get('/api/v1/admin/audit').set(as(userToken)).expect(403);
  });

  it('records security events in a verifiable hash chain', async () => {
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username: admin.username, password: 'wrong-password-000' })
      .expect(400);
    const res = await request(t.server)
      .get('/api/v1/admin/audit?limit=50')
      .set(as(adminToken))
      .expect(200);
    const events = res.body.map((row: { event: string }) => row.event);
    expect(events).toEqual(
      expect.arrayContaining([
        'login.failed',
        'login.succeeded',
        'user.created',
        'user.roles_changed',
      ]),
    );
    expect(JSON.stringify(res.body)).not.toContain('wrong-password-000');
    expect(await t.app.get(AuditService).verify()).toEqual({ ok: true, rows: expect.any(Number) });
  });

  it('refuses edits at the database level and detects them if the trigger is bypassed', async () => {
    const db = t.app.get(DatabaseService).db;
    await expect(db.execute(sql`update audit_log set event = 'edited'`)).rejects.toThrow();
    const first = sql`(select min(id) from audit_log)`;
    const original = await db.execute(sql`select subject from audit_log where id = ${first}`);
    const subject = (original as { rows: { subject: string | null }[] }).rows[0].subject;
    await db.execute(sql`alter table audit_log disable trigger audit_log_append_only`);
    try {
      await db.execute(sql`update audit_log set subject = 'someone-else' where id = ${first}`);
      const result = await t.app.get(AuditService).verify();
      expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/edited/) });
    } finally {
      // Put it back: the database may be shared with other suites (test:services).
      await db.execute(sql`update audit_log set subject = ${subject} where id = ${first}`);
      await db.execute(sql`alter table audit_log enable trigger audit_log_append_only`);
    }
    expect((await t.app.get(AuditService).verify()).ok).toBe(true);
  });
});

describe('CLI', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'keyward-cli-'));
    if (!process.env.DATABASE_URL)
      cpSync(join(templateDir(), 'pgdata'), join(dataDir, 'pgdata'), { recursive: true });
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function cli(
    args: string[],
    stdin = '',
  ): Promise<{ code: number; out: string; err: string }> {
    const input = new PassThrough();
    input.end(stdin);
    let out = '';
    let err = '';
    const code = await runCli(
      args,
      {
        stdin: input,
        stdout: { write: (s: string) => ((out += s), true) },
        stderr: { write: (s: string) => ((err += s), true) },
      },
      {
        ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
        NODE_ENV: 'test',
        DATA_DIR: dataDir,
      },
    );
    return { code, out, err };
  }

  it('creates, lists and disables users and verifies the audit log', async () => {
    const name = uniqueName('cliadmin');
    const created = await cli(
      ['users', 'create', name, '--role', 'admin', '--password-stdin'],
      `${PASSWORD}\n`,
    );
    expect(created).toMatchObject({ code: 0, out: expect.stringContaining(`created ${name}`) });
    expect((await cli(['users', 'list'])).out).toContain(name);
    expect((await cli(['users', 'disable', name])).code).toBe(0);
    expect((await cli(['users', 'list'])).out).toMatch(new RegExp(`${name}.*disabled`));
    const verified = await cli(['audit', 'verify']);
    expect(verified.code).toBe(0);
    expect(verified.out).toMatch(/intact/);
  }, 120_000); // each CLI call starts the embedded database's worker (a WASM compile): seconds on a loaded machine

  it('refuses a weak password, a missing terminal and unknown commands with clear messages', async () => {
    const weak = await cli(
      ['users', 'create', uniqueName('weak'), '--password-stdin'],
      'password1234\n',
    );
    expect(weak.code).toBe(1);
    expect(weak.err).toMatch(/too common/);
    const noTty = await cli(['users', 'create', uniqueName('notty')]);
    expect(noTty.err).toMatch(/--password-stdin/);
    expect((await cli(['nope', 'x'])).code).toBe(2);
  }, 120_000);
});
