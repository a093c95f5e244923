import request from 'supertest';
import { MAX_CONSECUTIVE_FAILURES } from '../src/auth/login-throttle.service';
import { createApiKey, createUser, login, type TestUser } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * docs/reference.md "Configuration" and "Audit and logs": CORS is closed unless
 * `CORS_ORIGINS` names an origin, `X-Forwarded-For` means nothing unless `TRUST_PROXY` says
 * so, and authenticated responses are never cached.
 */
describe('Defaults: no CORS, no trusted proxy, no-store', () => {
  let t: TestApp;
  let user: TestUser;
  let access: string;

  beforeAll(async () => {
    t = await createTestApp();
    user = await createUser(t);
    access = (await login(t, user)).access_token;
  });
  afterAll(() => t.close());

  it('grants no cross-origin access to any origin by default', async () => {
    const origin = 'https://app.example';
    const preflight = await request(t.server)
      .options('/api/v1/auth/me')
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'authorization');
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
    const read = await request(t.server)
      .get('/api/v1/auth/me')
      .set('Origin', origin)
      .set('Authorization', `Bearer ${access}`)
      .expect(200);
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('ignores X-Forwarded-For when TRUST_PROXY is unset: the lockout follows the socket address', async () => {
    const victim = await createUser(t);
    // Each failure claims another client address; without a trusted proxy they are all the
    // socket's, so the (username, IP) pair still locks.
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES; i += 1) {
      await request(t.server)
        .post('/api/v1/auth/token')
        .set('X-Forwarded-For', `203.0.113.${i + 1}`)
        .send({ grant_type: 'password', username: victim.username, password: 'wrong-password-000' })
        .expect(400);
    }
    const locked = await request(t.server)
      .post('/api/v1/auth/token')
      .set('X-Forwarded-For', '203.0.113.99')
      .send({ grant_type: 'password', username: victim.username, password: victim.password })
      .expect(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('sends Cache-Control: no-store on authenticated responses, whatever the credential', async () => {
    const key = await createApiKey(t, access, { name: 'no-store', scopes: ['usage'] });
    const session = await request(t.server)
      .post('/api/v1/auth/session')
      .send({ username: user.username, password: user.password })
      .expect(200);
    const cookies = (session.headers['set-cookie'] as unknown as string[])
      .map((line) => line.split(';')[0])
      .join('; ');
    const cases: [string, Record<string, string>][] = [
      ['/api/v1/auth/me', { Authorization: `Bearer ${access}` }],
      ['/api/v1/keys', { Authorization: `Bearer ${access}` }],
      ['/api/v1/usage', { Authorization: `Bearer ${key}` }],
      ['/api/v1/auth/me', { Cookie: cookies }],
      ['/v1/models', { Authorization: `Bearer ${access}` }],
    ];
    for (const [path, headers] of cases) {
      const res = await request(t.server).get(path).set(headers);
      expect({ path, status: res.status, cache: res.headers['cache-control'] }).toEqual({
        path,
        status: 200,
        cache: 'no-store',
      });
    }
    // A refusal of a credential is not cacheable either.
    const refused = await request(t.server)
      .get('/api/v1/auth/me')
      .set('Authorization', 'Bearer nope')
      .expect(401);
    expect(refused.headers['cache-control']).toBe('no-store');
  });
});

describe('CORS_ORIGINS allowlist', () => {
  let t: TestApp;
  let access: string;
  const allowed = 'https://console.example';

  beforeAll(async () => {
    t = await createTestApp({ CORS_ORIGINS: `${allowed},https://other.example` });
    access = (await login(t, await createUser(t))).access_token;
  });
  afterAll(() => t.close());

  it('answers the preflight of a listed origin, with credentials, and nothing for another', async () => {
    const preflight = (origin: string) =>
      request(t.server)
        .options('/api/v1/keys')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'content-type,x-csrf-token');
    const ok = await preflight(allowed);
    expect(ok.status).toBeLessThan(300);
    expect(ok.headers['access-control-allow-origin']).toBe(allowed);
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    expect(ok.headers['access-control-allow-headers']?.toLowerCase()).toContain('x-csrf-token');
    for (const origin of ['https://evil.example', 'https://console.example.evil', 'null']) {
      const res = await preflight(origin);
      expect({ origin, allow: res.headers['access-control-allow-origin'] }).toEqual({
        origin,
        allow: undefined,
      });
    }
  });

  it('marks the responses of a listed origin readable, and no other', async () => {
    const read = (origin: string) =>
      request(t.server)
        .get('/api/v1/auth/me')
        .set('Origin', origin)
        .set('Authorization', `Bearer ${access}`)
        .expect(200);
    const ok = await read(allowed);
    expect(ok.headers['access-control-allow-origin']).toBe(allowed);
    expect(ok.headers['access-control-expose-headers']).toMatch(/Retry-After/);
    expect((await read('https://evil.example')).headers['access-control-allow-origin']).toBe(
      undefined,
    );
  });
});
