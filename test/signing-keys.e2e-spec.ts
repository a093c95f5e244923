import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWK,
  jwtVerify,
} from 'jose';
import request from 'supertest';
import { createUser, forgeJwt, jwtPart, login, type TestUser } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * docs/reference.md "Tokens" and "Configuration": `JWT_SIGNING_KEYS` holds PEM blocks or a
 * JWK set, the first key signs, every key verifies, and a key's `kid` is its RFC 7638
 * thumbprint unless the JWK names one. jose (an independent implementation) is the oracle
 * for thumbprints and for verifying what Keyward publishes.
 */
const pem = (key: KeyObject) => key.export({ format: 'pem', type: 'pkcs8' }).toString();
const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
/** The public members of a private key's JWK: what RFC 7638 hashes. */
const publicJwk = (key: KeyObject): JWK =>
  Object.fromEntries(
    Object.entries(key.export({ format: 'jwk' })).filter(([name]) => name !== 'd'),
  );
const thumbprint = (key: KeyObject) => calculateJwkThumbprint(publicJwk(key), 'sha256');

async function verifyWithPublishedKeys(t: TestApp, token: string, algorithm: string) {
  const jwks = await request(t.server).get('/.well-known/jwks.json').expect(200);
  const { payload, protectedHeader } = await jwtVerify(
    token,
    createLocalJWKSet(jwks.body as JSONWebKeySet),
    { algorithms: [algorithm], issuer: 'keyward', audience: 'keyward-api', typ: 'at+jwt' },
  );
  return { payload, protectedHeader, keys: (jwks.body as JSONWebKeySet).keys };
}

describe('RS256 end to end', () => {
  let t: TestApp;
  let user: TestUser;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

  beforeAll(async () => {
    t = await createTestApp({ JWT_ALGORITHM: 'RS256', JWT_SIGNING_KEYS: pem(rsa) });
    user = await createUser(t);
  });
  afterAll(() => t.close());

  it('signs with RS256 under the RFC 7638 kid, publishes the key, and accepts its own token', async () => {
    const tokens = await login(t, user);
    const header = jwtPart(tokens.access_token, 0);
    expect(header).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: await thumbprint(rsa) });
    const { payload, keys } = await verifyWithPublishedKeys(t, tokens.access_token, 'RS256');
    expect(payload).toMatchObject({ sub: user.id, roles: ['user'] });
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: header.kid });
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi'])
      expect(keys[0]).not.toHaveProperty(secret);
    const me = await request(t.server)
      .get('/api/v1/auth/me')
      .set('Authorization', `Bearer ${tokens.access_token}`)
      .expect(200);
    expect(me.body).toMatchObject({ id: user.id, username: user.username });
    // The refreshed token is RS256 too.
    const refreshed = await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })
      .expect(200);
    expect(jwtPart(refreshed.body.access_token as string, 0).alg).toBe('RS256');
  });

  it('refuses an ES256 token under the RS256 configuration', async () => {
    const tokens = await login(t, user);
    const forged = forgeJwt(
      { alg: 'ES256', typ: 'at+jwt', kid: jwtPart(tokens.access_token, 0).kid },
      jwtPart(tokens.access_token, 1),
      { kind: 'es256', key: ecKey() },
    );
    await request(t.server)
      .get('/api/v1/auth/me')
      .set('Authorization', `Bearer ${forged}`)
      .expect(401);
  });
});

describe('JWT_SIGNING_KEYS as a JWK set, and rotation', () => {
  let t: TestApp;
  let user: TestUser;
  const current = ecKey();
  const previous = ecKey();
  const foreign = ecKey();

  beforeAll(async () => {
    const set = {
      keys: [
        { ...current.export({ format: 'jwk' }), kid: 'current-2026' },
        previous.export({ format: 'jwk' }), // no kid: the RFC 7638 thumbprint names it
      ],
    };
    t = await createTestApp({ JWT_SIGNING_KEYS: JSON.stringify(set) });
    user = await createUser(t);
  });
  afterAll(() => t.close());

  const me = (token: string) =>
    request(t.server).get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`);

  it('signs with the first key under its named kid and publishes both public keys', async () => {
    const tokens = await login(t, user);
    expect(jwtPart(tokens.access_token, 0)).toMatchObject({ alg: 'ES256', kid: 'current-2026' });
    const { keys } = await verifyWithPublishedKeys(t, tokens.access_token, 'ES256');
    expect(keys.map((key) => key.kid)).toEqual(['current-2026', await thumbprint(previous)]);
    for (const key of keys) expect(key).not.toHaveProperty('d');
    await me(tokens.access_token).expect(200);
  });

  it('still accepts a token signed by the rotated-out key, and refuses one from a key not in the set', async () => {
    const claims = jwtPart((await login(t, user)).access_token, 1);
    const byPrevious = forgeJwt(
      { alg: 'ES256', typ: 'at+jwt', kid: await thumbprint(previous) },
      claims,
      { kind: 'es256', key: previous },
    );
    const res = await me(byPrevious).expect(200);
    expect(res.body.id).toBe(user.id);
    // Other services verify it through the published set as well.
    await verifyWithPublishedKeys(t, byPrevious, 'ES256');

    // Same claims, a key Keyward never had: under its own kid, or claiming the old key's kid.
    for (const kid of [await thumbprint(foreign), await thumbprint(previous)]) {
      const forged = forgeJwt({ alg: 'ES256', typ: 'at+jwt', kid }, claims, {
        kind: 'es256',
        key: foreign,
      });
      await me(forged).expect(401);
    }
  });
});
