import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import request from 'supertest';
import { AuditService } from '../src/audit/audit.service';
import { SessionsRepository } from '../src/auth/sessions.repository';
import { loadConfig } from '../src/config/configuration';
import { DatabaseService } from '../src/database/database.service';
import {
  createApiKey,
  createUser,
  forgeJwt,
  jwtPart,
  login,
  type TestUser,
} from './support/auth-helpers';
import { moveClockTo } from './support/clock';
import { createTestApp, type TestApp } from './support/test-app';

const ISSUER = 'https://partner.example';
const AUDIENCE = 'keyward-partner';
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const now = () => Math.floor(Date.now() / 1000);

/**
 * Issue 14, items 8–13 and 16: roles, sessions and keys under attack. Each test is the
 * attack of the issue; each failed on the code before the fix. Items 10 (on every instance)
 * and 14 (instances' clocks) need several processes: adversarial-identity.services-spec.ts.
 */
describe('Adversarial identity', () => {
  // HS256 with one trusted partner that shares a secret, and another that maps its groups.
  const jwtSecret = randomBytes(32).toString('base64url');
  const partnerSecret = randomBytes(32).toString('base64url');
  const mappedSecret = randomBytes(32).toString('base64url');
  let t: TestApp;
  let admin: TestUser;
  let adminToken: string;

  /** A token of a trusted issuer, well-formed unless `claims`/`header` say otherwise. */
  const partnerToken = (
    claims: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
    { issuer = ISSUER, secret = partnerSecret } = {},
  ) =>
    forgeJwt(
      { alg: 'HS256', typ: 'at+jwt', ...header },
      {
        iss: issuer,
        aud: AUDIENCE,
        sub: 'svc-7',
        iat: now(),
        exp: now() + 300,
        jti: randomUUID(),
        ...claims,
      },
      { kind: 'hs256', secret: Buffer.from(secret) },
    );

  beforeAll(async () => {
    t = await createTestApp({
      JWT_ALGORITHM: 'HS256',
      JWT_SECRET: jwtSecret,
      JWT_TRUSTED_ISSUERS: JSON.stringify([
        { issuer: ISSUER, audience: AUDIENCE, secret: partnerSecret },
        {
          issuer: 'https://sso.example',
          audience: AUDIENCE,
          secret: mappedSecret,
          roleClaim: 'groups',
          roleMap: { 'keyward-admins': 'admin', staff: 'user' },
          maxTokenLifetime: '2h',
        },
      ]),
    });
    admin = await createUser(t, ['admin'], 'advadmin');
    adminToken = (await login(t, admin)).access_token;
  });
  afterAll(() => t.close());

  describe('8. roles from outside', () => {
    it('ignores a trusted issuer’s `roles` claim: no admin from a shared secret', async () => {
      const token = partnerToken({ roles: ['admin'] });
      const me = await request(t.server).get('/api/v1/auth/me').set(bearer(token)).expect(200);
      expect(me.body).toMatchObject({ id: `${ISSUER}#svc-7`, roles: ['user'] });
      await request(t.server).get('/api/v1/admin/users').set(bearer(token)).expect(403);
    });

    it('grants roles only through the issuer’s roleClaim/roleMap', async () => {
      const sso = { issuer: 'https://sso.example', secret: mappedSecret };
      const mapped = partnerToken({ groups: ['staff', 'keyward-admins'] }, {}, sso);
      const me = await request(t.server).get('/api/v1/auth/me').set(bearer(mapped)).expect(200);
      expect(me.body.roles).toEqual(['user', 'admin']);
      await request(t.server).get('/api/v1/admin/users').set(bearer(mapped)).expect(200);
      // Unmapped values and a `roles` claim grant nothing.
      for (const claims of [{ groups: ['admin'] }, { roles: ['admin'] }, { groups: 'staff' }]) {
        const token = partnerToken(claims, {}, sso);
        const res = await request(t.server).get('/api/v1/auth/me').set(bearer(token)).expect(200);
        expect(res.body.roles).toEqual(['user']);
      }
    });

    it.each([
      ['typ JWT', {}, { typ: 'JWT' }],
      ['no typ', {}, { typ: undefined }],
      ['no jti', { jti: undefined }, {}],
      ['no iat', { iat: undefined }, {}],
      ['a one-year exp', { exp: now() + 365 * 86400 }, {}],
      ['exp − iat over 1 h although exp is near', { iat: now() - 7200, exp: now() + 60 }, {}],
    ])('refuses an external token with %s (401)', async (_name, claims, header) => {
      const token = partnerToken(claims, header);
      const res = await request(t.server).get('/api/v1/auth/me').set(bearer(token)).expect(401);
      expect(res.headers['www-authenticate']).toMatch(/invalid_token/);
    });

    it('takes the issuer’s own maximum lifetime when configured', async () => {
      const sso = { issuer: 'https://sso.example', secret: mappedSecret };
      const ninetyMinutes = partnerToken({ exp: now() + 5400 }, {}, sso);
      await request(t.server).get('/api/v1/auth/me').set(bearer(ninetyMinutes)).expect(200);
      const threeHours = partnerToken({ exp: now() + 3 * 3600 }, {}, sso);
      await request(t.server).get('/api/v1/auth/me').set(bearer(threeHours)).expect(401);
    });

    it('refuses plain-http JWKS URIs except on loopback, and a partner secret equal to JWT_SECRET', () => {
      const base = {
        NODE_ENV: 'test',
        DATA_DIR: t.config.app.dataDir,
        JWT_ALGORITHM: 'HS256',
        JWT_SECRET: jwtSecret,
      };
      const issuers = (entry: object) => JSON.stringify([{ issuer: 'x', audience: 'y', ...entry }]);
      const load = (entry: object) =>
        loadConfig({ ...base, JWT_TRUSTED_ISSUERS: issuers(entry) }, t.config.app.dataDir);
      expect(() => load({ jwksUri: 'http://idp.example/jwks.json' })).toThrow(
        /JWT_TRUSTED_ISSUERS.*https/,
      );
      expect(() => load({ jwksUri: 'http://10.0.0.8/jwks.json' })).toThrow(/https/);
      for (const uri of [
        'https://idp.example/jwks.json',
        'http://127.0.0.1:9/jwks.json',
        'http://localhost:9/jwks.json',
        'http://[::1]:9/jwks.json',
      ]) {
        expect(load({ jwksUri: uri }).auth.trustedIssuers[0].jwksUri).toBe(uri);
      }
      expect(() => load({ secret: jwtSecret })).toThrow(/JWT_TRUSTED_ISSUERS.*JWT_SECRET/);
      expect(() =>
        load({ secret: randomBytes(32).toString('base64url'), roleClaim: 'groups' }),
      ).toThrow(/roleClaim and roleMap go together/);
    });

    it('answers 401, never 500, to a token minted with JWT_SECRET for a user or session that does not exist', async () => {
      const { key, kid } = t.config.auth.keys.signing;
      const secret = key.export();
      const forged = (sub: string, sid: string) =>
        forgeJwt(
          { alg: 'HS256', typ: 'at+jwt', kid },
          {
            iss: t.config.auth.issuer,
            aud: t.config.auth.audience,
            sub,
            sid,
            jti: randomUUID(),
            iat: now(),
            exp: now() + 300,
            auth_time: now(),
            roles: ['admin'],
            scope: 'chat usage keys admin',
          },
          { kind: 'hs256', secret },
        );
      const user = await createUser(t);
      const tokens = await login(t, user);
      const realSid = jwtPart(tokens.access_token, 1).sid as string;
      const cases = [
        forged(randomUUID(), randomUUID()), // nobody
        forged(user.id, randomUUID()), // a real user, a session that never existed
        forged(randomUUID(), realSid), // a real session, another subject
        forged(user.id, "' or 1=1 --"), // a session id that is not one
        forged('nul\u0000sub', randomUUID()), // a NUL byte in the subject
      ];
      for (const token of cases) {
        await request(t.server)
          .post('/api/v1/keys')
          .set(bearer(token))
          .send({ name: 'x' })
          .expect(401);
        await request(t.server).get('/api/v1/auth/me').set(bearer(token)).expect(401);
        await request(t.server).get('/v1/models').set(bearer(token)).expect(401);
      }
      // The same forgery for the real session and user passes, but never with more roles
      // than the user has: its `admin` claim is dropped.
      const own = forged(user.id, realSid);
      const me = await request(t.server).get('/api/v1/auth/me').set(bearer(own)).expect(200);
      expect(me.body.roles).toEqual([]);
      await request(t.server).get('/api/v1/admin/users').set(bearer(own)).expect(403);
    });

    it('answers 401 to a fresh token of a disabled user', async () => {
      const user = await createUser(t);
      await request(t.server)
        .patch(`/api/v1/admin/users/${user.id}`)
        .set(bearer(adminToken))
        .send({ disabled: true })
        .expect(200);
      const { key, kid } = t.config.auth.keys.signing;
      // A session row of the disabled user, as a crash between steps could leave behind.
      const { id: sid } = await t.app.get(SessionsRepository).createWithToken({
        userId: user.id,
        kind: 'token',
        absoluteExpiresAt: new Date(Date.now() + 3600_000),
        tokenHash: randomBytes(32).toString('hex'),
        tokenExpiresAt: new Date(Date.now() + 3600_000),
      });
      const token = forgeJwt(
        { alg: 'HS256', typ: 'at+jwt', kid },
        {
          iss: t.config.auth.issuer,
          aud: t.config.auth.audience,
          sub: user.id,
          sid,
          jti: randomUUID(),
          iat: now(),
          exp: now() + 300,
          roles: ['user'],
          scope: 'chat usage keys',
        },
        { kind: 'hs256', secret: key.export() },
      );
      await request(t.server).get('/api/v1/auth/me').set(bearer(token)).expect(401);
    });
  });

  describe('9. audit rows for external actors; sessions end first and idempotently', () => {
    it('records an external admin’s change (actor issuer#sub) and ends the target’s sessions', async () => {
      const target = await createUser(t);
      const targetToken = (await login(t, target)).access_token;
      const externalAdmin = partnerToken(
        { sub: 'ops-1', groups: ['keyward-admins'] },
        {},
        { issuer: 'https://sso.example', secret: mappedSecret },
      );
      await request(t.server)
        .patch(`/api/v1/admin/users/${target.id}`)
        .set(bearer(externalAdmin))
        .send({ disabled: true })
        .expect(200);
      await request(t.server).get('/api/v1/auth/me').set(bearer(targetToken)).expect(401);
      const rows = await t.app.get(AuditService).list({ limit: 20, event: 'user.disabled' });
      expect(rows.find((row) => row.subject === target.id)?.actorId).toBe(
        'https://sso.example#ops-1',
      );
    });

    it('repairs a half-done disable on retry: sessions end even though the row says disabled', async () => {
      const target = await createUser(t);
      const targetToken = (await login(t, target)).access_token;
      await request(t.server).get('/api/v1/auth/me').set(bearer(targetToken)).expect(200);
      // A first attempt that committed the flag and died before ending the sessions.
      await t.app
        .get(DatabaseService)
        .db.execute(sql`update users set disabled = true where id = ${target.id}`);
      await request(t.server).get('/api/v1/auth/me').set(bearer(targetToken)).expect(200);
      await request(t.server)
        .patch(`/api/v1/admin/users/${target.id}`)
        .set(bearer(adminToken))
        .send({ disabled: true })
        .expect(200);
      await request(t.server).get('/api/v1/auth/me').set(bearer(targetToken)).expect(401);
    });
  });

  describe('10. demotion', () => {
    it('ends a demoted admin’s sessions at once, so they cannot re-promote themselves', async () => {
      const other = await createUser(t, ['admin'], 'demoted');
      const tokens = await login(t, other);
      await request(t.server)
        .get('/api/v1/admin/users')
        .set(bearer(tokens.access_token))
        .expect(200);
      await request(t.server)
        .patch(`/api/v1/admin/users/${other.id}`)
        .set(bearer(adminToken))
        .send({ roles: ['user'] })
        .expect(200);
      await request(t.server)
        .patch(`/api/v1/admin/users/${other.id}`)
        .set(bearer(tokens.access_token))
        .send({ roles: ['admin'] })
        .expect(401);
      await request(t.server)
        .post('/api/v1/auth/token')
        .send({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })
        .expect(400);
      const fresh = (await login(t, other)).access_token;
      await request(t.server).get('/api/v1/admin/users').set(bearer(fresh)).expect(403);
      const rows = await t.app.get(AuditService).list({ limit: 20, event: 'user.roles_changed' });
      expect(rows.some((row) => row.subject === other.id)).toBe(true);
    });
  });

  describe('11. scopes', () => {
    it('a chat-only key cannot end its owner’s sessions', async () => {
      const user = await createUser(t);
      const tokens = await login(t, user);
      const key = await createApiKey(t, tokens.access_token, { name: 'chat', scopes: ['chat'] });
      const res = await request(t.server)
        .post('/api/v1/auth/logout-all')
        .set(bearer(key))
        .expect(403);
      expect(res.body.type).toBe('urn:keyward:problem:insufficient_scope');
      await request(t.server).get('/api/v1/auth/me').set(bearer(tokens.access_token)).expect(200);
    });

    it('an admin’s key reads /metrics only with the admin scope', async () => {
      const chatKey = await createApiKey(t, adminToken, { name: 'c', scopes: ['chat'] });
      await request(t.server).get('/metrics').set(bearer(chatKey)).expect(403);
      const adminKey = await createApiKey(t, adminToken, { name: 'a', scopes: ['admin'] });
      await request(t.server).get('/metrics').set(bearer(adminKey)).expect(200);
    });
  });

  describe('12. stolen session → permanent key', () => {
    afterEach(() => jest.useRealTimers());

    it('needs a sign-in under 10 minutes old, carried unchanged through refreshes', async () => {
      const user = await createUser(t);
      const tokens = await login(t, user);
      const authTime = jwtPart(tokens.access_token, 1).auth_time as number;
      expect(Math.abs(authTime - now())).toBeLessThan(120);
      await createApiKey(t, tokens.access_token);
      // Eleven minutes later: the session is refreshed (as a browser would) but nobody signed in.
      moveClockTo(Date.now() + 11 * 60_000);
      const refreshed = await request(t.server)
        .post('/api/v1/auth/token')
        .send({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })
        .expect(200);
      const access = refreshed.body.access_token as string;
      expect(jwtPart(access, 1).auth_time).toBe(authTime);
      const res = await request(t.server)
        .post('/api/v1/keys')
        .set(bearer(access))
        .send({ name: 'persist' })
        .expect(403);
      expect(res.body.type).toBe('urn:keyward:problem:recent_sign_in_required');
      expect(res.body.detail).toMatch(/sign in again/);
      // Signing in again is the way.
      const again = (await login(t, user)).access_token;
      await createApiKey(t, again);
    });

    it('an admin password reset ends the user’s keys too, and says so in the audit log', async () => {
      const user = await createUser(t);
      const key = await createApiKey(t, (await login(t, user)).access_token);
      await request(t.server).get('/v1/models').set(bearer(key)).expect(200);
      await request(t.server)
        .patch(`/api/v1/admin/users/${user.id}`)
        .set(bearer(adminToken))
        .send({ password: 'another-Unusual-pass-77' })
        .expect(200);
      await request(t.server).get('/v1/models').set(bearer(key)).expect(401);
      const rows = await t.app.get(AuditService).list({ limit: 20, event: 'api_key.revoked' });
      expect(rows.find((row) => row.subject === user.id)?.details).toMatchObject({
        reason: 'password_reset',
      });
    });
  });

  describe('13. users.tokens_valid_after', () => {
    it('is gone: no column that claims an enforcement nothing does', async () => {
      const result: unknown = await t.app.get(DatabaseService).db.execute(
        sql`select column_name from information_schema.columns
            where table_name = 'users' and column_name = 'tokens_valid_after'`,
      );
      expect((result as { rows: unknown[] }).rows).toEqual([]);
    });
  });

  describe('16. two tabs refreshing one browser session', () => {
    afterEach(() => jest.useRealTimers());

    type Jar = Record<string, string>;
    const jarFrom = (res: request.Response, jar: Jar = {}): Jar => {
      const header = res.headers['set-cookie'] as string[] | string | undefined;
      for (const line of header === undefined ? [] : [header].flat()) {
        const [pair] = line.split(';');
        const index = pair.indexOf('=');
        if (/Max-Age=0/i.test(line)) delete jar[pair.slice(0, index)];
        else jar[pair.slice(0, index)] = pair.slice(index + 1);
      }
      return jar;
    };
    const cookie = (jar: Jar) =>
      Object.entries(jar)
        .map(([name, value]) => `${name}=${value}`)
        .join('; ');
    const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537.36';
    const refresh = (jar: Jar, csrf: string, userAgent = CHROME) =>
      request(t.server)
        .post('/api/v1/auth/session/refresh')
        .set('Cookie', cookie(jar))
        .set('X-CSRF-Token', csrf)
        .set('User-Agent', userAgent);
    const signIn = async () => {
      const user = await createUser(t);
      const res = await request(t.server)
        .post('/api/v1/auth/session')
        .set('User-Agent', CHROME)
        .send({ username: user.username, password: user.password })
        .expect(200);
      return { jar: jarFrom(res), csrf: res.body.csrfToken as string };
    };

    it('lets both tabs through, and the session lives on with either answer', async () => {
      const { jar, csrf } = await signIn();
      const answers = await Promise.all([refresh(jar, csrf), refresh(jar, csrf)]);
      expect(answers.map((res) => res.status)).toEqual([200, 200]);
      // Whichever Set-Cookie the browser kept last, the session goes on with it.
      const kept = answers[0];
      await refresh(jarFrom(kept, { ...jar }), kept.body.csrfToken as string).expect(200);
    });

    it('still treats a replay by another client as reuse and ends the session', async () => {
      const { jar, csrf } = await signIn();
      const first = await refresh(jar, csrf).expect(200);
      const replay = await refresh(jar, csrf, 'curl/8.11.0');
      expect(replay.status).toBe(401);
      await refresh(jarFrom(first, { ...jar }), first.body.csrfToken as string).expect(401);
    });

    it('still treats a replay after the grace window as reuse', async () => {
      const { jar, csrf } = await signIn();
      const first = await refresh(jar, csrf).expect(200);
      moveClockTo(Date.now() + (t.config.auth.refreshReuseGraceSeconds + 2) * 1000);
      await refresh(jar, csrf).expect(401);
      jest.useRealTimers();
      await refresh(jarFrom(first, { ...jar }), first.body.csrfToken as string).expect(401);
    });

    it('treats a superseded sibling, presented after the other moved on, as reuse', async () => {
      const { jar, csrf } = await signIn();
      const [a, b] = await Promise.all([refresh(jar, csrf), refresh(jar, csrf)]);
      expect([a.status, b.status]).toEqual([200, 200]);
      await refresh(jarFrom(b, { ...jar }), b.body.csrfToken as string).expect(200);
      moveClockTo(Date.now() + (t.config.auth.refreshReuseGraceSeconds + 2) * 1000);
      await refresh(jarFrom(a, { ...jar }), a.body.csrfToken as string).expect(401);
    });

    it('gives OAuth2 refresh tokens no grace: a parallel second use is reuse', async () => {
      const tokens = await login(t, await createUser(t));
      const send = () =>
        request(t.server)
          .post('/api/v1/auth/token')
          .send({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
      const statuses = (await Promise.all([send(), send()])).map((res) => res.status).sort();
      expect(statuses).toEqual([200, 400]);
    });
  });
});
