import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { VerifiedTokenCache } from '../src/auth/verified-token-cache';
import { createUser, forgeJwt, jwtPart, login, type TestUser } from './support/auth-helpers';
import { moveClockTo } from './support/clock';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * Issue 7: the guard serves already-verified access tokens from a cache. The cache must
 * not outlive a revocation or the token's `exp`.
 */
describe('Verified-token cache', () => {
  let t: TestApp;
  let user: TestUser;
  const now = () => Math.floor(Date.now() / 1000);
  const me = (token: string) =>
    request(t.server).get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`);

  beforeAll(async () => {
    t = await createTestApp();
    user = await createUser(t);
  });
  afterAll(() => t.close());
  afterEach(() => jest.useRealTimers());

  it('refuses a cached token immediately after its session is revoked (logout)', async () => {
    const { access_token: token } = await login(t, user);
    const cache = t.app.get(VerifiedTokenCache);
    await me(token).expect(200);
    expect(cache.get(token)).toBeDefined();
    await me(token).expect(200); // served from the cache
    await request(t.server)
      .post('/api/v1/auth/logout')
      .set('Authorization', `Bearer ${token}`)
      .expect(204);
    // Still in the cache, but the revocation check runs on every hit.
    expect(cache.get(token)).toBeDefined();
    await me(token).expect(401);
  });

  it('refuses a cached token once it is past exp (and the skew)', async () => {
    const { access_token: issued } = await login(t, user);
    const sid = jwtPart(issued, 1).sid as string;
    const { signing } = t.config.auth.keys;
    const token = forgeJwt(
      { alg: 'ES256', typ: 'at+jwt', kid: signing.kid },
      {
        iss: 'keyward',
        aud: 'keyward-api',
        sub: user.id,
        iat: now(),
        exp: now() + 5,
        jti: randomUUID(),
        sid,
        roles: ['user'],
        scope: 'chat usage keys',
        preferred_username: user.username,
      },
      { kind: 'es256', key: signing.key },
    );
    await me(token).expect(200);
    expect(t.app.get(VerifiedTokenCache).get(token)).toBeDefined();
    moveClockTo(Date.now() + 60_000);
    await me(token).expect(401);
    expect(t.app.get(VerifiedTokenCache).get(token)).toBeUndefined();
  });

  it('does not let a different token ride on a cached one', async () => {
    const { access_token: token } = await login(t, user);
    await me(token).expect(200);
    const [h, p, s] = token.split('.');
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`;
    await me(flipped).expect(401);
  });
});
