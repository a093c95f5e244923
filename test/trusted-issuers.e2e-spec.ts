import request from 'supertest';
import { createUser, login } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

/** JWT_TRUSTED_ISSUERS with a JWKS URI: another issuer's ES256 tokens, keys fetched from its JWKS. */
describe('Trusted external issuer (JWKS URI)', () => {
  let issuer: TestApp;
  let t: TestApp;

  beforeAll(async () => {
    issuer = await createTestApp({
      JWT_ISSUER: 'https://idp.test',
      JWT_AUDIENCE: 'keyward-gateway',
    });
    const url = await issuer.listen();
    t = await createTestApp({
      JWT_TRUSTED_ISSUERS: JSON.stringify([
        {
          issuer: 'https://idp.test',
          audience: 'keyward-gateway',
          jwksUri: `${url}/.well-known/jwks.json`,
        },
      ]),
    });
  });
  afterAll(async () => {
    await t.close();
    await issuer.close();
  });

  it('accepts a token of the trusted issuer as an external principal, not believing its roles', async () => {
    const user = await createUser(issuer, ['admin']);
    const token = (await login(issuer, user)).access_token;
    const me = await request(t.server)
      .get('/api/v1/auth/me')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    expect(me.body).toEqual({
      id: `https://idp.test#${user.id}`,
      username: user.username,
      // No roleClaim/roleMap for this issuer: its `roles: ["admin"]` claim grants nothing.
      roles: ['user'],
      authMethod: 'external',
    });
    await request(t.server)
      .get('/api/v1/admin/users')
      .set('Authorization', `Bearer ${token}`)
      .expect(403);
  });

  it('refuses a trusted issuer’s token for another audience, and lets no external principal manage keys', async () => {
    // The issuer's own key (its JWKS lists it): only the audience is wrong.
    const other = await createTestApp({
      JWT_ISSUER: 'https://idp.test',
      JWT_AUDIENCE: 'someone-else',
      JWT_SIGNING_KEYS: issuer.config.auth.keys.signing.key
        .export({ format: 'pem', type: 'pkcs8' })
        .toString(),
    });
    try {
      const user = await createUser(other);
      const token = (await login(other, user)).access_token;
      await request(t.server)
        .get('/api/v1/auth/me')
        .set('Authorization', `Bearer ${token}`)
        .expect(401);
    } finally {
      await other.close();
    }
    const user = await createUser(issuer);
    const token = (await login(issuer, user)).access_token;
    await request(t.server)
      .post('/api/v1/keys')
      .set('Authorization', `Bearer ${token}`)
      .send({ name: 'x' })
      .expect(403);
  });

  it('refuses a token signed by a key that is not in the issuer’s JWKS', async () => {
    // Same issuer name, different (unpublished) key: the kid is unknown to the JWKS.
    const impostor = await createTestApp({
      JWT_ISSUER: 'https://idp.test',
      JWT_AUDIENCE: 'keyward-gateway',
    });
    try {
      const user = await createUser(impostor);
      const token = (await login(impostor, user)).access_token;
      await request(t.server)
        .get('/api/v1/auth/me')
        .set('Authorization', `Bearer ${token}`)
        .expect(401);
    } finally {
      await impostor.close();
    }
  });
});
