import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import request from 'supertest';
import { createUser, forgeJwt, jwtPart, login, type TestUser } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * docs/reference.md "Tokens": every way a hostile client could forge or bend an access token, one
 * row each, through the real guard. Each row must be refused with 401; the controls must pass.
 */
describe('Access-token verification (forged tokens)', () => {
  let t: TestApp;
  let user: TestUser;
  let sessionId: string;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    t = await createTestApp();
    user = await createUser(t);
    const tokens = await login(t, user);
    sessionId = jwtPart(tokens.access_token, 1).sid as string;
  });
  afterAll(() => t.close());

  const key = () => t.config.auth.keys.signing;
  const header = (extra: Record<string, unknown> = {}) => ({
    alg: 'ES256',
    typ: 'at+jwt',
    kid: key().kid,
    ...extra,
  });
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: 'keyward',
    aud: 'keyward-api',
    sub: user.id,
    iat: now(),
    exp: now() + 300,
    jti: randomUUID(),
    sid: sessionId,
    roles: ['user'],
    scope: 'chat usage keys',
    preferred_username: user.username,
    ...extra,
  });
  const signed = (h: Record<string, unknown>, p: Record<string, unknown>) =>
    forgeJwt(h, p, { kind: 'es256', key: key().key });
  const without = (name: string) => {
    const value: Record<string, unknown> = claims();
    delete value[name];
    return value;
  };
  const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = () =>
    Buffer.from(createPublicKey(key().key).export({ format: 'pem', type: 'spki' }) as string);

  const me = (token: string) =>
    request(t.server).get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`);

  it('accepts a correctly signed token (control)', async () => {
    const res = await me(signed(header(), claims())).expect(200);
    expect(res.body.username).toBe(user.username);
  });

  it('accepts a token expired by less than the 30 s skew (control)', async () => {
    await me(signed(header(), claims({ exp: now() - 10 }))).expect(200);
  });

  const forged: [string, () => string][] = [
    ['alg none', () => forgeJwt(header({ alg: 'none' }), claims(), { kind: 'none' })],
    ['alg NONE', () => forgeJwt(header({ alg: 'NONE' }), claims(), { kind: 'none' })],
    [
      'alg nOnE with a signature',
      () => `${forgeJwt(header({ alg: 'nOnE' }), claims(), { kind: 'none' })}abc`,
    ],
    [
      'HS256 signed with our public key (PEM)',
      () => forgeJwt(header({ alg: 'HS256' }), claims(), { kind: 'hs256', secret: publicPem() }),
    ],
    [
      'RS256 with an attacker key',
      () => forgeJwt(header({ alg: 'RS256' }), claims(), { kind: 'rs256', key: rsa.privateKey }),
    ],
    [
      'ES256 signed by an attacker key under our kid',
      () => forgeJwt(header(), claims(), { kind: 'es256', key: attacker.privateKey }),
    ],
    ['ES384 header', () => signed(header({ alg: 'ES384' }), claims())],
    [
      'tampered payload (roles: admin)',
      () => {
        const token = signed(header(), claims());
        const [h, , s] = token.split('.');
        return `${h}.${Buffer.from(JSON.stringify(claims({ roles: ['admin'] }))).toString('base64url')}.${s}`;
      },
    ],
    [
      'tampered signature',
      () => {
        const token = signed(header(), claims());
        const last = token.at(-2) === 'A' ? 'B' : 'A';
        return `${token.slice(0, -2)}${last}${token.at(-1)}`;
      },
    ],
    ['missing exp', () => signed(header(), without('exp'))],
    ['missing iss', () => signed(header(), without('iss'))],
    ['wrong iss', () => signed(header(), claims({ iss: 'evil' }))],
    ['missing aud', () => signed(header(), without('aud'))],
    ['wrong aud', () => signed(header(), claims({ aud: 'other-api' }))],
    ['missing sub', () => signed(header(), without('sub'))],
    ['empty sub', () => signed(header(), claims({ sub: '' }))],
    ['expired beyond the skew', () => signed(header(), claims({ exp: now() - 31 }))],
    ['nbf in the future beyond the skew', () => signed(header(), claims({ nbf: now() + 120 }))],
    ['iat in the future beyond the skew', () => signed(header(), claims({ iat: now() + 120 }))],
    ['unknown kid', () => signed(header({ kid: 'no-such-key' }), claims())],
    ['path-traversal kid', () => signed(header({ kid: '../../../../etc/passwd' }), claims())],
    ['non-string kid', () => signed(header({ kid: 42 }), claims())],
    ['missing kid', () => signed({ alg: 'ES256', typ: 'at+jwt' }, claims())],
    ['jku header', () => signed(header({ jku: 'http://127.0.0.1:9/jwks.json' }), claims())],
    ['x5u header', () => signed(header({ x5u: 'http://127.0.0.1:9/cert.pem' }), claims())],
    [
      'embedded jwk header (attacker key)',
      () =>
        forgeJwt(
          header({ jwk: createPublicKey(attacker.privateKey).export({ format: 'jwk' }) }),
          claims(),
          {
            kind: 'es256',
            key: attacker.privateKey,
          },
        ),
    ],
    ['unknown crit header', () => signed(header({ crit: ['exp'] }), claims())],
    ['b64 crit extension', () => signed(header({ crit: ['b64'], b64: false }), claims())],
    ['typ JWT instead of at+jwt', () => signed(header({ typ: 'JWT' }), claims())],
    ['missing typ', () => signed({ alg: 'ES256', kid: key().kid }, claims())],
    ['missing jti', () => signed(header(), without('jti'))],
    ['missing sid', () => signed(header(), without('sid'))],
    ['larger than 8 KiB', () => signed(header(), claims({ padding: 'x'.repeat(9000) }))],
    ['two segments only', () => signed(header(), claims()).split('.').slice(0, 2).join('.')],
    [
      'header not JSON',
      () => `bm90LWpzb24.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.c2ln`,
    ],
    [
      'header JSON array',
      () =>
        `${Buffer.from('[1]').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.c2ln`,
    ],
  ];

  it.each(forged)('refuses %s with 401', async (_name, make) => {
    const res = await me(make()).expect(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(res.body.type).toBe('urn:keyward:problem:invalid_token');
  });

  it('refuses a valid token sent in the URL query', async () => {
    const token = signed(header(), claims());
    const res = await request(t.server).get(`/api/v1/auth/me?access_token=${token}`).expect(401);
    expect(res.body.detail).toMatch(/not accepted in the URL/);
  });

  it('refuses a token of a revoked session', async () => {
    const fresh = await login(t, user);
    await me(fresh.access_token).expect(200);
    await request(t.server)
      .post('/api/v1/auth/logout')
      .set('Authorization', `Bearer ${fresh.access_token}`)
      .expect(204);
    await me(fresh.access_token).expect(401);
  });

  it('never logs the tokens it refuses', () => {
    // One access line per refusal above, so the scan below has the lines it is about.
    const refusals = t.logs.filter((line) => {
      const entry = JSON.parse(line) as { res?: { statusCode?: number } };
      return entry.res?.statusCode === 401;
    });
    expect(refusals.length).toBeGreaterThanOrEqual(forged.length);
    const text = t.logs.join('\n');
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
  });
});
