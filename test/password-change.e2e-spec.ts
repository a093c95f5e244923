import request from 'supertest';
import { createApiKey, createUser, login, PASSWORD, type TestUser } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

const NEW_PASSWORD = 'another-Unusual-pass-77';
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('POST /api/v1/auth/password (own password change)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const change = (token: string, body: object) =>
    request(t.server).post('/api/v1/auth/password').set(bearer(token)).send(body);

  it('changes the password, ends the other sessions and keeps this one', async () => {
    const user = await createUser(t);
    const current = await login(t, user);
    const other = await login(t, user);
    const key = await createApiKey(t, current.access_token);

    const res = await change(current.access_token, {
      currentPassword: PASSWORD,
      newPassword: NEW_PASSWORD,
    }).expect(204);
    expect(res.headers['cache-control']).toBe('no-store');

    // This session stays: its access token and its refresh token.
    await request(t.server).get('/api/v1/auth/me').set(bearer(current.access_token)).expect(200);
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: current.refresh_token })
      .expect(200);
    // The other one ends at once.
    await request(t.server).get('/api/v1/auth/me').set(bearer(other.access_token)).expect(401);
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: other.refresh_token })
      .expect(400);
    // API keys stay (revoked one by one).
    await request(t.server).get('/api/v1/auth/me').set(bearer(key)).expect(200);

    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username: user.username, password: PASSWORD })
      .expect(400);
    await login(t, { ...user, password: NEW_PASSWORD });

    const admin = await createUser(t, ['admin', 'user'], 'admin');
    const adminToken = (await login(t, admin)).access_token;
    const audit = await request(t.server)
      .get('/api/v1/admin/audit?limit=1000&event=user.password_changed')
      .set(bearer(adminToken))
      .expect(200);
    expect(audit.body).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ subject: user.id, actorId: user.id, details: { self: true } }),
      ]),
    );
  });

  it('refuses a wrong current password (403), counting it for the sign-in lockout', async () => {
    const user = await createUser(t);
    const { access_token } = await login(t, user);
    const wrong = await change(access_token, {
      currentPassword: 'not-the-password-1',
      newPassword: NEW_PASSWORD,
    }).expect(403);
    expect(wrong.headers['content-type']).toMatch(/application\/problem\+json/);
    // Parallel guesses: no more than the allowed failures are judged, then 429.
    const guesses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        change(access_token, { currentPassword: `wrong-guess-${i}`, newPassword: NEW_PASSWORD }),
      ),
    );
    const statuses = guesses.map((res) => res.status);
    expect(statuses.filter((s) => s === 403).length).toBeLessThanOrEqual(4);
    expect(statuses.every((s) => s === 403 || s === 429)).toBe(true);
    // Some of the burst may have been turned away as "in progress" without being judged: a few
    // more wrong guesses, one at a time, reach the lock (5 failures) whatever the timing.
    let status = 403;
    for (let i = 0; i < 6 && status === 403; i += 1) {
      status = (
        await change(access_token, { currentPassword: `again-${i}`, newPassword: NEW_PASSWORD })
      ).status;
    }
    expect(status).toBe(429);
    // Locked: even the right password is refused now, and so is a password sign-in.
    const locked = await change(access_token, {
      currentPassword: PASSWORD,
      newPassword: NEW_PASSWORD,
    }).expect(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username: user.username, password: PASSWORD })
      .expect(429);
    // The session itself is untouched.
    await request(t.server).get('/api/v1/auth/me').set(bearer(access_token)).expect(200);
  });

  it('applies the password policy and validates the body', async () => {
    const user: TestUser = await createUser(t);
    const { access_token } = await login(t, user);
    const weak = await change(access_token, {
      currentPassword: PASSWORD,
      newPassword: 'short',
    }).expect(422);
    expect(weak.body.errors?.length).toBeGreaterThan(0);
    await change(access_token, { currentPassword: PASSWORD, newPassword: 'password1234' }).expect(
      422,
    );
    for (const body of [
      {},
      { currentPassword: PASSWORD },
      { currentPassword: PASSWORD, newPassword: 42 },
      { currentPassword: PASSWORD, newPassword: NEW_PASSWORD, roles: ['admin'] },
    ]) {
      await change(access_token, body).expect(400);
    }
    // The policy failures did not count: the old password still works.
    await login(t, user);
  });

  it('is for a signed-in session: API keys and anonymous callers are refused', async () => {
    const user = await createUser(t);
    const { access_token } = await login(t, user);
    const key = await createApiKey(t, access_token);
    await change(key, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }).expect(403);
    await request(t.server)
      .post('/api/v1/auth/password')
      .send({ currentPassword: PASSWORD, newPassword: NEW_PASSWORD })
      .expect(401);
  });
});
