import request from 'supertest';
import { SessionsRepository } from '../src/auth/sessions.repository';
import { UsersService } from '../src/users/users.service';
import { createUser, jwtPart, login, PASSWORD, type TestUser } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

const decode = (token: string) => jwtPart(token, 1);
const decodeHeader = (token: string) => jwtPart(token, 0);

describe('Token endpoint, refresh rotation and revocation', () => {
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp();
    user = await createUser(t);
  });
  afterAll(() => t.close());

  const me = (token: string) =>
    request(t.server).get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`);
  const refresh = (refreshToken: string) =>
    request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: refreshToken });

  it('issues RFC 9068 access tokens with the claims of the spec, no-store', async () => {
    const res = await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username: user.username, password: user.password })
      .expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 600 });
    expect(res.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    const header = decodeHeader(res.body.access_token);
    expect(header).toMatchObject({
      alg: 'ES256',
      typ: 'at+jwt',
      kid: t.config.auth.keys.signing.kid,
    });
    const claims = decode(res.body.access_token);
    for (const name of ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid', 'roles', 'scope'])
      expect(claims).toHaveProperty(name);
    expect(claims).toMatchObject({
      iss: 'keyward',
      aud: 'keyward-api',
      sub: user.id,
      roles: ['user'],
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(600);
  });

  it('accepts a form-encoded password grant (Swagger UI and OAuth2 clients)', async () => {
    const res = await request(t.server)
      .post('/api/v1/auth/token')
      .type('form')
      .send({
        grant_type: 'password',
        username: user.username,
        password: user.password,
        client_id: '',
        scope: '',
      })
      .expect(200);
    await me(res.body.access_token).expect(200);
  });

  it('answers a wrong password and an unknown user identically, in OAuth2 format', async () => {
    const wrong = await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username: user.username, password: 'not-the-password-123' })
      .expect(400);
    const unknown = await request(t.server)
      .post('/api/v1/auth/token')
      .send({
        grant_type: 'password',
        username: 'nobody_here_at_all',
        password: 'not-the-password-123',
      })
      .expect(400);
    expect(wrong.body).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.headers['cache-control']).toBe('no-store');
  });

  it('refuses an unsupported grant type and unknown fields in OAuth2 format', async () => {
    const res = await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'authorization_code' })
      .expect(400);
    expect(res.body.error).toBe('unsupported_grant_type');
    const extra = await request(t.server)
      .post('/api/v1/auth/token')
      .send({
        grant_type: 'password',
        username: user.username,
        password: user.password,
        admin: true,
      })
      .expect(400);
    expect(extra.body.error).toBe('invalid_request');
  });

  it('rotates the refresh token on every use and keeps the session id', async () => {
    const first = await login(t, user);
    const second = (await refresh(first.refresh_token).expect(200)).body;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(decode(second.access_token).sid).toBe(decode(first.access_token).sid);
    const third = (await refresh(second.refresh_token).expect(200)).body;
    await me(third.access_token).expect(200);
  });

  it('rejects a reused refresh token and revokes its whole family', async () => {
    const first = await login(t, user);
    const second = (await refresh(first.refresh_token).expect(200)).body;
    const reuse = await refresh(first.refresh_token).expect(400);
    expect(reuse.body.error).toBe('invalid_grant');
    // The legitimate successor dies with the family, and so do its access tokens.
    await refresh(second.refresh_token).expect(400);
    await me(second.access_token).expect(401);
    await me(first.access_token).expect(401);
  });

  it('leaves at most one live family when two refreshes race with one token', async () => {
    const tokens = await login(t, user);
    const results = await Promise.all([
      refresh(tokens.refresh_token),
      refresh(tokens.refresh_token),
    ]);
    // The first claims the token atomically; the second presents an already-rotated token,
    // which is reuse: it is refused in OAuth2 form and takes the whole family down.
    const statuses = results.map((res) => res.status).sort();
    expect(statuses).toEqual([200, 400]);
    const [winner] = results.filter((res) => res.status === 200);
    const [loser] = results.filter((res) => res.status === 400);
    expect(loser.body).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
    await refresh(winner.body.refresh_token as string).expect(400);
    await me(winner.body.access_token as string).expect(401);
  });

  it('revokes with RFC 7009: 200 always, the session ends', async () => {
    const tokens = await login(t, user);
    await request(t.server)
      .post('/api/v1/auth/revoke')
      .type('form')
      .send({ token: tokens.refresh_token })
      .expect(200);
    await refresh(tokens.refresh_token).expect(400);
    await me(tokens.access_token).expect(401);
    await request(t.server).post('/api/v1/auth/revoke').send({ token: 'garbage' }).expect(200);
    const viaAccess = await login(t, user);
    await request(t.server)
      .post('/api/v1/auth/revoke')
      .send({ token: viaAccess.access_token })
      .expect(200);
    await me(viaAccess.access_token).expect(401);
  });

  it('logout ends this session only; logout-all ends every session', async () => {
    const a = await login(t, user);
    const b = await login(t, user);
    await request(t.server)
      .post('/api/v1/auth/logout')
      .set('Authorization', `Bearer ${a.access_token}`)
      .expect(204);
    await me(a.access_token).expect(401);
    await refresh(a.refresh_token).expect(400);
    await me(b.access_token).expect(200);
    const c = await login(t, user);
    await request(t.server)
      .post('/api/v1/auth/logout-all')
      .set('Authorization', `Bearer ${b.access_token}`)
      .expect(204);
    await me(b.access_token).expect(401);
    await me(c.access_token).expect(401);
    await refresh(c.refresh_token).expect(400);
    // A new sign-in after logout-all works at once.
    await me((await login(t, user)).access_token).expect(200);
  });

  it('ends every session when an admin disables the user or changes the password', async () => {
    const victim = await createUser(t);
    const users = t.app.get(UsersService);
    const before = await login(t, victim);
    await users.update(victim.id, { password: `${PASSWORD}-changed` });
    await me(before.access_token).expect(401);
    await refresh(before.refresh_token).expect(400);
    const after = await login(t, { ...victim, password: `${PASSWORD}-changed` });
    await users.update(victim.id, { disabled: true });
    await me(after.access_token).expect(401);
    await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username: victim.username, password: `${PASSWORD}-changed` })
      .expect(400);
  });

  it('refuses a revoked session on another instance within 5 s (shared database)', async () => {
    // Other instances learn revocations by polling the database, not per request. On
    // PostgreSQL a second app shares the database; on PGlite (one process per data dir) the
    // session is revoked straight in the database, as another instance would, so only the
    // poll can tell this instance.
    const shared = Boolean(process.env.DATABASE_URL);
    const other = shared
      ? await createTestApp({
          // Instances behind one load balancer share their keys.
          JWT_SIGNING_KEYS: t.config.auth.keys.signing.key
            .export({ format: 'pem', type: 'pkcs8' })
            .toString(),
          COOKIE_SECRETS: t.config.cookies.secrets.join(','),
        })
      : t;
    try {
      const tokens = await login(t, user);
      await request(other.server)
        .get('/api/v1/auth/me')
        .set('Authorization', `Bearer ${tokens.access_token}`)
        .expect(200);
      if (shared) {
        await request(t.server)
          .post('/api/v1/auth/logout')
          .set('Authorization', `Bearer ${tokens.access_token}`)
          .expect(204);
      } else {
        await t.app
          .get(SessionsRepository)
          .revoke(decode(tokens.access_token).sid as string, 'test');
        await request(t.server)
          .get('/api/v1/auth/me')
          .set('Authorization', `Bearer ${tokens.access_token}`)
          .expect(200);
      }
      const started = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - started < 5000) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        status = (
          await request(other.server)
            .get('/api/v1/auth/me')
            .set('Authorization', `Bearer ${tokens.access_token}`)
        ).status;
      }
      // The loop above gives up at the contract's 5 s: still 200 by then fails here.
      expect(status).toBe(401);
    } finally {
      if (shared) await other.close();
    }
  });

  it('publishes the verification keys and RFC 8414 metadata', async () => {
    const jwks = await request(t.server).get('/.well-known/jwks.json').expect(200);
    expect(jwks.body.keys).toHaveLength(1);
    expect(jwks.body.keys[0]).toMatchObject({
      kty: 'EC',
      crv: 'P-256',
      alg: 'ES256',
      kid: t.config.auth.keys.signing.kid,
    });
    expect(jwks.body.keys[0]).not.toHaveProperty('d');
    const meta = await request(t.server).get('/.well-known/oauth-authorization-server').expect(200);
    expect(meta.body).toMatchObject({
      issuer: 'keyward',
      grant_types_supported: ['password', 'refresh_token', 'client_credentials'],
    });
    expect(meta.body.jwks_uri).toMatch(/\/\.well-known\/jwks\.json$/);
    // RFC 8414 §2: the signing algorithms are those of JWT client authentication
    // (private_key_jwt, client_secret_jwt); with no such method offered, none are advertised.
    expect(meta.body.token_endpoint_auth_methods_supported).toEqual([
      'none',
      'client_secret_basic',
      'client_secret_post',
    ]);
    for (const field of [
      'token_endpoint_auth_signing_alg_values_supported',
      'revocation_endpoint_auth_signing_alg_values_supported',
      'introspection_endpoint_auth_signing_alg_values_supported',
    ])
      expect(meta.body).not.toHaveProperty(field);
    expect(meta.body.response_types_supported).toEqual([]);
  });
  it('prunes sessions ended over a day ago (expired or revoked) with their refresh tokens, and no other', async () => {
    const { DatabaseService } = await import('../src/database/database.service');
    const { SessionsService } = await import('../src/auth/sessions.service');
    const database = t.app.get(DatabaseService);
    const sessionOf = (token: string) => decode(token).sid as string;
    const signIn = async () =>
      (
        await request(t.server)
          .post('/api/v1/auth/token')
          .send({ grant_type: 'password', username: user.username, password: user.password })
          .expect(200)
      ).body as { access_token: string; refresh_token: string };
    const [expired, revoked, recent, live] = [
      await signIn(),
      await signIn(),
      await signIn(),
      await signIn(),
    ];
    const set = (sid: string, column: string, age: string) =>
      database.query(`UPDATE auth_sessions SET ${column} = now() - $2::interval WHERE id = $1`, [
        sid,
        age,
      ]);
    await set(sessionOf(expired.access_token), 'absolute_expires_at', '25 hours');
    await set(sessionOf(revoked.access_token), 'revoked_at', '25 hours');
    // Ended, but within the day kept for whoever investigates: stays.
    await set(sessionOf(recent.access_token), 'absolute_expires_at', '1 hour');
    // A client_credentials session whose token expired two days ago.
    const client = await t.app
      .get(SessionsRepository)
      .createClientSession(user.id, new Date(Date.now() - 2 * 86400_000));
    const exists = async (sid: string) =>
      (
        await database.query<{ n: number }>(
          'SELECT (SELECT count(*) FROM auth_sessions WHERE id = $1)::int + (SELECT count(*) FROM refresh_tokens WHERE session_id = $1)::int AS n',
          [sid],
        )
      )[0].n;
    expect(await exists(sessionOf(expired.access_token))).toBe(2); // the session and its token

    expect(await t.app.get(SessionsService).pruneEnded()).toBeGreaterThanOrEqual(3);
    for (const sid of [sessionOf(expired.access_token), sessionOf(revoked.access_token), client.id])
      expect(await exists(sid)).toBe(0);
    expect(await exists(sessionOf(recent.access_token))).toBe(2);
    expect(await exists(sessionOf(live.access_token))).toBe(2);
    await me(live.access_token).expect(200);
    await refresh(live.refresh_token).expect(200);
    // A pruned session's refresh token is simply unknown.
    await refresh(expired.refresh_token).expect(400);
    // Nothing left to prune: a second run (another instance's, say) deletes nothing.
    expect(await t.app.get(SessionsService).pruneEnded()).toBe(0);
  });
});
