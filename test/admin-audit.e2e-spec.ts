import { rmSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import request from 'supertest';
import { AuditService } from '../src/audit/audit.service';
import { DatabaseService } from '../src/database/database.service';
import { createUser, jwtPart, login, PASSWORD, type TestUser } from './support/auth-helpers';
import { cliDataDir, runCliIn } from './support/cli';
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
  interface AuditRow {
    id: number;
    event: string;
    actorId: string | null;
    subject: string | null;
    ip: string | null;
  }
  const auditPage = async () =>
    (await request(t.server).get('/api/v1/admin/audit?limit=1000').set(as(adminToken)).expect(200))
      .body as AuditRow[];
  const lastAuditId = async () => (await auditPage())[0]?.id ?? 0;
  const auditSince = async (id: number) => (await auditPage()).filter((row) => row.id > id);
  const matches = (row: AuditRow, want: Partial<AuditRow>) =>
    Object.entries(want).every(([name, value]) => row[name as keyof AuditRow] === value);

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
    expect(await t.app.get(AuditService).verify()).toEqual({
      ok: true,
      rows: expect.any(Number),
      legacyRows: 0,
    });
  });

  it('ends every session of a user an admin disables or re-passwords over HTTP, and audits each event', async () => {
    const victim = await createUser(t);
    const since = await lastAuditId();
    const bearer = await login(t, victim);
    const browser = await request(t.server)
      .post('/api/v1/auth/session')
      .send({ username: victim.username, password: victim.password })
      .expect(200);
    const cookies = (browser.headers['set-cookie'] as unknown as string[])
      .map((line) => line.split(';')[0])
      .join('; ');
    const me = (headers: Record<string, string>) =>
      request(t.server).get('/api/v1/auth/me').set(headers);
    await me({ Authorization: `Bearer ${bearer.access_token}` }).expect(200);
    await me({ Cookie: cookies }).expect(200);

    const newPassword = `${PASSWORD}-reset`;
    await request(t.server)
      .patch(`/api/v1/admin/users/${victim.id}`)
      .set(as(adminToken))
      .send({ password: newPassword })
      .expect(200);
    // Access tokens die at once on this instance (no 10-minute wait), refresh tokens too.
    await me({ Authorization: `Bearer ${bearer.access_token}` }).expect(401);
    await me({ Cookie: cookies }).expect(401);
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: bearer.refresh_token })
      .expect(400);
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username: victim.username, password: victim.password })
      .expect(400);

    const after = await login(t, { ...victim, password: newPassword });
    await me({ Authorization: `Bearer ${after.access_token}` }).expect(200);
    const disabled = await request(t.server)
      .patch(`/api/v1/admin/users/${victim.id}`)
      .set(as(adminToken))
      .send({ disabled: true })
      .expect(200);
    expect(disabled.body.disabled).toBe(true);
    await me({ Authorization: `Bearer ${after.access_token}` }).expect(401);
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: after.refresh_token })
      .expect(400);
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username: victim.username, password: newPassword })
      .expect(400);

    const rows = await auditSince(since);
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ event: 'user.password_changed', actorId: admin.id }),
        expect.objectContaining({ event: 'user.disabled', actorId: admin.id }),
      ]),
    );
    expect(JSON.stringify(rows)).not.toContain(newPassword);
  });

  it('audits every security event the contract names, with who and what', async () => {
    const subject = await createUser(t);
    const since = await lastAuditId();
    const ip = '127.0.0.1';
    // A failure, a success, a refresh-token reuse, a logout and a logout-all.
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username: subject.username, password: 'wrong-password-000' })
      .expect(400);
    const first = await login(t, subject);
    const rotated = await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: first.refresh_token })
      .expect(200);
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: first.refresh_token })
      .expect(400);
    const second = await login(t, subject);
    const key = await request(t.server)
      .post('/api/v1/keys')
      .set(as(second.access_token))
      .send({ name: 'audited' })
      .expect(201);
    await request(t.server)
      .delete(`/api/v1/keys/${key.body.id as string}`)
      .set(as(second.access_token))
      .expect(204);
    await request(t.server).post('/api/v1/auth/logout').set(as(second.access_token)).expect(204);
    const third = await login(t, subject);
    await request(t.server).post('/api/v1/auth/logout-all').set(as(third.access_token)).expect(204);
    // An admin creates a user and changes its roles; five failures lock a pair.
    const created = await request(t.server)
      .post('/api/v1/admin/users')
      .set(as(adminToken))
      .send({ username: uniqueName('audited'), password: PASSWORD })
      .expect(201);
    await request(t.server)
      .patch(`/api/v1/admin/users/${created.body.id as string}`)
      .set(as(adminToken))
      .send({ roles: ['admin', 'user'] })
      .expect(200);
    for (let i = 0; i < 5; i += 1) {
      await request(t.server)
        .post('/api/v1/auth/token')
        .send({
          grant_type: 'password',
          username: subject.username,
          password: 'wrong-password-000',
        })
        .expect(400);
    }

    const rows = await auditSince(since);
    const sid = (token: string) => jwtPart(token, 1).sid as string;
    const expected = [
      { event: 'login.failed', subject: subject.username, ip },
      { event: 'login.succeeded', actorId: subject.id, ip },
      { event: 'refresh.reused', actorId: subject.id, subject: sid(rotated.body.access_token) },
      { event: 'api_key.created', actorId: subject.id, subject: key.body.id },
      { event: 'api_key.revoked', actorId: subject.id, subject: key.body.id },
      { event: 'logout', actorId: subject.id, subject: sid(second.access_token) },
      { event: 'logout.all', actorId: subject.id },
      { event: 'user.created', actorId: admin.id },
      { event: 'user.roles_changed', actorId: admin.id },
      { event: 'login.locked', subject: subject.username, ip },
    ];
    for (const row of expected) {
      expect({ row, found: rows.some((r) => matches(r, row)) }).toEqual({ row, found: true });
    }
    expect(JSON.stringify(rows)).not.toMatch(/wrong-password-000|kw_[A-Za-z0-9_-]{20}/);
    expect(await t.app.get(AuditService).verify()).toEqual({
      ok: true,
      rows: expect.any(Number),
      legacyRows: 0,
    });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of the audit log at the database level', async () => {
    const db = t.app.get(DatabaseService).db;
    const rowsBefore = (await t.app.get(AuditService).verify()).rows;
    // Each inside a transaction that is rolled back, so even a wrongly allowed change leaves
    // the log (possibly shared with other suites) as it was.
    for (const statement of [
      sql`update audit_log set event = 'edited'`,
      sql`delete from audit_log where id = (select max(id) from audit_log)`,
      sql`delete from audit_log`,
      sql`truncate audit_log`,
    ]) {
      const error = (await db
        .transaction(async (tx) => {
          await tx.execute(statement);
          throw new Error('the statement was allowed');
        })
        .catch((caught: unknown) => caught)) as Error & { cause?: Error };
      // drizzle wraps the database's error: its message is the cause's.
      expect(`${error.message} ${error.cause?.message}`).toMatch(/audit_log is append-only/);
    }
    expect((await t.app.get(AuditService).verify()).rows).toBeGreaterThanOrEqual(rowsBefore);
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

/** Each command opens the embedded database anew: slow on a loaded 2-core machine. */
const CLI_TIMEOUT_MS = 120_000;

describe('CLI', () => {
  let dataDir: string;
  beforeAll(() => (dataDir = cliDataDir('keyward-cli-')));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const cli = (args: string[], stdin = '') => runCliIn(dataDir, args, { stdin });

  it(
    'creates, lists and disables users and verifies the audit log',
    async () => {
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
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'refuses a weak password, a missing terminal and unknown commands with clear messages',
    async () => {
      const weak = await cli(
        ['users', 'create', uniqueName('weak'), '--password-stdin'],
        'password1234\n',
      );
      expect(weak.code).toBe(1);
      expect(weak.err).toMatch(/too common/);
      const noTty = await cli(['users', 'create', uniqueName('notty')]);
      expect(noTty.err).toMatch(/--password-stdin/);
      expect((await cli(['nope', 'x'])).code).toBe(2);
    },
    CLI_TIMEOUT_MS,
  );
});
