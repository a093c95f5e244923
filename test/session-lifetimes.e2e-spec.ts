import request from 'supertest';
import { createUser, login, type TestUser } from './support/auth-helpers';
import { moveClockTo } from './support/clock';
import { createTestApp, type TestApp } from './support/test-app';

const MINUTE = 60_000;

/**
 * docs/reference.md "Configuration": a refresh token unused for `REFRESH_IDLE_TTL` dies, and
 * rotation never extends a session past `REFRESH_ABSOLUTE_TTL` from login. Short lifetimes
 * (1 h idle, 3 h absolute) and a moved wall clock stand in for days.
 */
describe('Refresh-token idle and absolute lifetimes', () => {
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp({ REFRESH_IDLE_TTL: '1h', REFRESH_ABSOLUTE_TTL: '3h' });
    user = await createUser(t);
  });
  afterAll(() => t.close());
  afterEach(() => jest.useRealTimers());

  const refresh = (refreshToken: string) =>
    request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: refreshToken });

  it('lets a refresh token live for the idle time, and not a minute longer', async () => {
    const start = Date.now();
    const first = await login(t, user);
    const second = await login(t, user);
    moveClockTo(start + 59 * MINUTE);
    await refresh(first.refresh_token).expect(200);
    moveClockTo(start + 61 * MINUTE);
    const dead = await refresh(second.refresh_token).expect(400);
    expect(dead.body.error).toBe('invalid_grant');
  });

  it('gives each rotated token a fresh idle time, but never past the absolute time from login', async () => {
    const start = Date.now();
    let token = (await login(t, user)).refresh_token;
    // Every 50 minutes (inside the idle hour): alive until the 3 h mark, whatever the rotation.
    for (const minutes of [50, 100, 150, 175]) {
      moveClockTo(start + minutes * MINUTE);
      token = (await refresh(token).expect(200)).body.refresh_token as string;
    }
    // 6 minutes after the last rotation, well inside its idle hour, but past 3 h from login.
    moveClockTo(start + 181 * MINUTE);
    const dead = await refresh(token).expect(400);
    expect(dead.body.error).toBe('invalid_grant');
  });

  it('caps the browser refresh cookie at the time the session has left', async () => {
    const start = Date.now();
    const signIn = await request(t.server)
      .post('/api/v1/auth/session')
      .send({ username: user.username, password: user.password })
      .expect(200);
    const maxAge = (res: request.Response) => {
      const lines = res.headers['set-cookie'] as unknown as string[];
      const line = lines.find((l) => l.startsWith('__Secure-kw_refresh='));
      return Number(/Max-Age=(\d+)/.exec(line ?? '')?.[1]);
    };
    // The idle hour (rounded down to whole seconds), not the 3 h.
    expect(maxAge(signIn)).toBeGreaterThan(3590);
    expect(maxAge(signIn)).toBeLessThanOrEqual(3600);
    const jar = new Map<string, string>();
    const keep = (res: request.Response) => {
      for (const line of res.headers['set-cookie'] as unknown as string[]) {
        const pair = line.split(';')[0];
        jar.set(pair.slice(0, pair.indexOf('=')), pair);
      }
    };
    keep(signIn);
    let refreshed = signIn;
    // Rotated inside each idle hour, up to 10 minutes before the 3 h mark.
    for (const minutes of [50, 100, 150, 170]) {
      moveClockTo(start + minutes * MINUTE);
      refreshed = await request(t.server)
        .post('/api/v1/auth/session/refresh')
        .set('Cookie', [...jar.values()].join('; '))
        // The CSRF cookie holds the current token (it is re-issued with the session).
        .set('X-CSRF-Token', jar.get('__Host-kw_csrf')!.split('=')[1])
        .expect(200);
      keep(refreshed);
    }
    // 10 minutes left of the 3 h, not another idle hour.
    expect(maxAge(refreshed)).toBeGreaterThan(9 * 60);
    expect(maxAge(refreshed)).toBeLessThanOrEqual(10 * 60);
  });
});
