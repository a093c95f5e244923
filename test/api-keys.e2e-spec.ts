import request from 'supertest';
import { createApiKey, createUser, login, type TestUser } from './support/auth-helpers';
import { moveClockTo } from './support/clock';
import { createTestApp, type TestApp } from './support/test-app';

describe('API keys', () => {
  let t: TestApp;
  let user: TestUser;
  let access: string;

  beforeAll(async () => {
    t = await createTestApp();
    user = await createUser(t);
    access = (await login(t, user)).access_token;
  });
  afterAll(() => t.close());

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  it('creates a key shown once, lists it without the secret, accepts it as Bearer, revokes it', async () => {
    const created = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(access))
      .send({ name: 'ci script', expiresInDays: 30 })
      .expect(201);
    expect(created.body.key).toMatch(/^kw_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({ name: 'ci script', scopes: ['chat', 'usage'] });
    expect(new Date(created.body.expiresAt).getTime()).toBeGreaterThan(Date.now() + 29 * 86400_000);

    const list = await request(t.server).get('/api/v1/keys').set(bearer(access)).expect(200);
    const listed = list.body.find((k: { id: string }) => k.id === created.body.id);
    expect(listed).toBeDefined();
    expect(JSON.stringify(list.body)).not.toContain(created.body.key);

    const me = await request(t.server)
      .get('/api/v1/auth/me')
      .set(bearer(created.body.key))
      .expect(200);
    expect(me.body).toMatchObject({ id: user.id, authMethod: 'api_key' });

    await request(t.server)
      .delete(`/api/v1/keys/${created.body.id}`)
      .set(bearer(access))
      .expect(204);
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(401);
    await request(t.server)
      .delete(`/api/v1/keys/${created.body.id}`)
      .set(bearer(access))
      .expect(404);
  });

  it('refuses a key past its expiry, even one it has just verified and cached', async () => {
    const created = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(access))
      .send({ name: 'short-lived', expiresInDays: 1 })
      .expect(201);
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(200);
    moveClockTo(Date.now() + 86400_000 + 60_000); // a day and a minute on
    try {
      const res = await request(t.server)
        .get('/api/v1/auth/me')
        .set(bearer(created.body.key))
        .expect(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
    } finally {
      jest.useRealTimers();
    }
    // Still listed for its owner (with its expiry), just no longer accepted.
    const list = await request(t.server).get('/api/v1/keys').set(bearer(access)).expect(200);
    expect(list.body.map((k: { id: string }) => k.id)).toContain(created.body.id);
  });

  it('stores only a hash of the key', async () => {
    const key = await createApiKey(t, access);
    const { DatabaseService } = await import('../src/database/database.service');
    const { apiKeys } = await import('../src/database/schema');
    const rows = await t.app.get(DatabaseService).db.select().from(apiKeys);
    expect(JSON.stringify(rows)).not.toContain(key);
  });

  it('refuses admin scope to non-admins and key management to keys', async () => {
    await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(access))
      .send({ name: 'x', scopes: ['admin'] })
      .expect(403);
    const key = await createApiKey(t, access);
    const res = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(key))
      .send({ name: 'more' })
      .expect(403);
    expect(res.body.type).toBe('urn:keyward:problem:insufficient_scope');
  });

  it('refuses another user’s key id, malformed ids and unknown fields', async () => {
    const other = await createUser(t);
    const otherAccess = (await login(t, other)).access_token;
    const created = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(otherAccess))
      .send({ name: 'theirs' })
      .expect(201);
    await request(t.server)
      .delete(`/api/v1/keys/${created.body.id}`)
      .set(bearer(access))
      .expect(404);
    await request(t.server).delete('/api/v1/keys/not-a-uuid').set(bearer(access)).expect(400);
    const extra = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(access))
      .send({ name: 'x', userId: other.id })
      .expect(400);
    expect(extra.body.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: 'userId' })]),
    );
  });

  it('refuses the key of a disabled user within the key cache time', async () => {
    const { UsersService } = await import('../src/users/users.service');
    const owner = await createUser(t);
    const ownerAccess = (await login(t, owner)).access_token;
    const key = await createApiKey(t, ownerAccess);
    await request(t.server).get('/api/v1/auth/me').set(bearer(key)).expect(200);
    await t.app.get(UsersService).update(owner.id, { disabled: true });
    // Honoured within the key cache's few seconds.
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = (await request(t.server).get('/api/v1/auth/me').set(bearer(key))).status;
    }
    expect(status).toBe(401);
  });

  it('records the last use', async () => {
    const key = await createApiKey(t, access, { name: 'touched' });
    await request(t.server).get('/api/v1/auth/me').set(bearer(key)).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const list = await request(t.server).get('/api/v1/keys').set(bearer(access)).expect(200);
    const entry = list.body.find((k: { name: string }) => k.name === 'touched');
    expect(entry.lastUsedAt).not.toBeNull();
  });
});
