import request from 'supertest';
import { MAX_CONSECUTIVE_FAILURES } from '../src/auth/login-throttle.service';
import { createUser, login, PASSWORD, type TestUser } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * Attacks on sign-in that slipped past the limits before (security review, issue 14):
 * parallel guesses, control characters, lock-outs from a hostile page, floods of the public
 * session routes. Each test acts from its own client address (the test client plays the
 * trusted proxy and sets X-Forwarded-For).
 */
describe('Sign-in under attack', () => {
  let t: TestApp;
  /** AUTH_PUBLIC_RPM at its default (set explicitly: test apps on Redis raise it). */
  let PUBLIC_AUTH_REQUESTS_PER_MINUTE: number;

  beforeAll(async () => {
    t = await createTestApp({ TRUST_PROXY: '127.0.0.1', AUTH_PUBLIC_RPM: '60' });
    PUBLIC_AUTH_REQUESTS_PER_MINUTE = t.config.auth.publicRequestsPerMinute;
    expect(PUBLIC_AUTH_REQUESTS_PER_MINUTE).toBe(60);
  });
  afterAll(() => t.close());

  const token = (ip: string, body: object) =>
    request(t.server).post('/api/v1/auth/token').set('X-Forwarded-For', ip).send(body);
  const passwordGrant = (ip: string, username: string, password: string) =>
    token(ip, { grant_type: 'password', username, password });

  describe('parallel guesses', () => {
    it('judges at most 5 of 60 parallel wrong passwords for one user from one address', async () => {
      const user = await createUser(t);
      const ip = '203.0.113.10';
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          passwordGrant(ip, user.username, `wrong-password-${i}`),
        ),
      );
      const statuses = answers.map((res) => res.status);
      const judged = statuses.filter((status) => status === 400).length;
      expect(judged).toBeGreaterThanOrEqual(1);
      expect(judged).toBeLessThanOrEqual(MAX_CONSECUTIVE_FAILURES);
      // Everything else was refused without a password check, with a wait to honour.
      expect(statuses.filter((status) => status !== 400).every((status) => status === 429)).toBe(
        true,
      );
      for (const res of answers.filter((answer) => answer.status === 429)) {
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
    });

    it('locks the pair after 5 judged failures even when they were parallel', async () => {
      const user = await createUser(t);
      const ip = '203.0.113.11';
      // Rounds of parallel guesses until five have been judged.
      let judged = 0;
      for (let round = 0; round < 20 && judged < MAX_CONSECUTIVE_FAILURES; round += 1) {
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => passwordGrant(ip, user.username, 'wrong-password-x')),
        );
        judged += answers.filter((res) => res.status === 400).length;
      }
      expect(judged).toBe(MAX_CONSECUTIVE_FAILURES);
      // The right password is refused now: the lock holds.
      const locked = await passwordGrant(ip, user.username, user.password);
      expect(locked.status).toBe(429);
    });

    it('keys IPv6 clients by /64: rotating addresses inside one /64 does not reset the count', async () => {
      const user = await createUser(t);
      for (let i = 1; i <= MAX_CONSECUTIVE_FAILURES; i += 1) {
        await passwordGrant(
          `2001:db8:14:1::${i.toString(16)}`,
          user.username,
          'wrong-password-x',
        ).expect(400);
      }
      await passwordGrant('2001:db8:14:1:ffff::9', user.username, user.password).expect(429);
      // Another /64 is another client.
      await passwordGrant('2001:db8:14:2::1', user.username, user.password).expect(200);
    });

    it('a success still resets the count (the point taken in advance is given back)', async () => {
      const user = await createUser(t);
      const ip = '203.0.113.12';
      for (let round = 0; round < 3; round += 1) {
        for (let i = 0; i < MAX_CONSECUTIVE_FAILURES - 1; i += 1) {
          await passwordGrant(ip, user.username, 'wrong-password-x').expect(400);
        }
        await passwordGrant(ip, user.username, user.password).expect(200);
      }
    });
  });

  describe('control characters in credential fields', () => {
    const hostile = ['\u0000', '\u0001', '\n', '\u001b[31m', '\u007f', '\u0085'];

    it.each(hostile.map((c) => [JSON.stringify(c), c]))(
      'refuses %s in a username or password at the token endpoint with 400 invalid_request',
      async (_label, c) => {
        const ip = '203.0.113.20';
        for (const body of [
          { grant_type: 'password', username: `alice${c}`, password: PASSWORD },
          { grant_type: 'password', username: 'alice', password: `${PASSWORD}${c}` },
          { grant_type: 'refresh_token', refresh_token: `abc${c}def` },
        ]) {
          const res = await token(ip, body);
          expect(res.status).toBe(400);
          expect(res.body.error).toBe('invalid_request');
        }
      },
    );

    it('refuses NUL in a form-encoded username, at revocation and at the browser sign-in', async () => {
      const ip = '203.0.113.21';
      const form = await request(t.server)
        .post('/api/v1/auth/token')
        .set('X-Forwarded-For', ip)
        .type('form')
        .send('grant_type=password&username=bob%00&password=whatever-password');
      expect(form.status).toBe(400);
      expect(form.body.error).toBe('invalid_request');

      const revoke = await request(t.server)
        .post('/api/v1/auth/revoke')
        .set('X-Forwarded-For', ip)
        .send({ token: 'kw_abc\u0000' });
      expect(revoke.status).toBe(400);
      expect(revoke.body.error).toBe('invalid_request');

      const session = await request(t.server)
        .post('/api/v1/auth/session')
        .set('X-Forwarded-For', ip)
        .send({ username: 'bob\u0000', password: PASSWORD });
      expect(session.status).toBe(400);
      expect(session.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(session.body.errors[0].field).toBe('username');
    });

    it('refuses a new password holding a control character (it could never sign in)', async () => {
      const admin = await createUser(t, ['admin'], 'admin');
      const { access_token } = await login(t, admin);
      const res = await request(t.server)
        .post('/api/v1/admin/users')
        .set('Authorization', `Bearer ${access_token}`)
        .send({
          username: 'ctrl_pw_user',
          password: 'a-long-Unusual\u0007pass-42',
          roles: ['user'],
        });
      // The password policy's answer (422), like a too-short or too-common password.
      expect(res.status).toBe(422);
      expect(JSON.stringify(res.body)).toContain('control characters');
    });
  });

  describe('lock-out from a hostile web page', () => {
    let victim: TestUser;
    beforeAll(async () => {
      victim = await createUser(t);
    });

    const formPost = (ip: string, headers: Record<string, string>, password: string) =>
      request(t.server)
        .post('/api/v1/auth/token')
        .set('X-Forwarded-For', ip)
        .set(headers)
        .type('form')
        .send({ grant_type: 'password', username: victim.username, password });

    it('refuses cross-site form posts with 403 and does not count them against the victim', async () => {
      const ip = '203.0.113.30';
      const hostileHeaders: Record<string, string>[] = [
        { 'Sec-Fetch-Site': 'cross-site' },
        { Origin: 'https://evil.example' },
        { Origin: 'null' },
        { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' },
      ];
      for (let i = 0; i < 3; i += 1) {
        for (const headers of hostileHeaders) {
          const res = await formPost(ip, headers, 'wrong-password-x');
          expect(res.status).toBe(403);
          expect(res.body.error).toBe('invalid_request');
        }
      }
      // Twelve hostile posts later, the victim signs in from the same address at once.
      await passwordGrant(ip, victim.username, victim.password).expect(200);
    });

    it('still takes same-origin forms (Swagger UI) and clients that send no browser headers', async () => {
      const ip = '203.0.113.31';
      const own = await formPost(
        ip,
        { Origin: 'http://127.0.0.1', Host: '127.0.0.1', 'Sec-Fetch-Site': 'same-origin' },
        victim.password,
      );
      expect(own.status).toBe(200);
      await formPost(ip, {}, victim.password).expect(200);
    });
  });

  describe('floods of the public session routes', () => {
    it('limits refresh grants per address with 429 and Retry-After', async () => {
      const ip = '203.0.113.40';
      for (let i = 0; i < PUBLIC_AUTH_REQUESTS_PER_MINUTE; i += 1) {
        await token(ip, { grant_type: 'refresh_token', refresh_token: `bogus-${i}` }).expect(400);
      }
      const limited = await token(ip, { grant_type: 'refresh_token', refresh_token: 'bogus' });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // Another address is not affected.
      await token('203.0.113.41', { grant_type: 'refresh_token', refresh_token: 'bogus' }).expect(
        400,
      );
    });

    it('limits revocation, and rotating inside an IPv6 /64 does not help', async () => {
      const send = (ip: string) =>
        request(t.server)
          .post('/api/v1/auth/revoke')
          .set('X-Forwarded-For', ip)
          .send({ token: 'not-a-token' });
      for (let i = 0; i < PUBLIC_AUTH_REQUESTS_PER_MINUTE; i += 1) {
        await send(`2001:db8:14:40::${(i + 1).toString(16)}`).expect(200);
      }
      const limited = await send('2001:db8:14:40::ffff');
      expect(limited.status).toBe(429);
      expect(limited.body.error).toBe('too_many_attempts');
    });

    it('limits the cookie session refresh and sign-out routes', async () => {
      const ip = '203.0.113.42';
      for (let i = 0; i < PUBLIC_AUTH_REQUESTS_PER_MINUTE / 2; i += 1) {
        await request(t.server)
          .post('/api/v1/auth/session/refresh')
          .set('X-Forwarded-For', ip)
          .expect(401);
        await request(t.server)
          .delete('/api/v1/auth/session')
          .set('X-Forwarded-For', ip)
          .expect(401);
      }
      const refresh = await request(t.server)
        .post('/api/v1/auth/session/refresh')
        .set('X-Forwarded-For', ip);
      expect(refresh.status).toBe(429);
      expect(refresh.headers['content-type']).toMatch(/application\/problem\+json/);
      const remove = await request(t.server)
        .delete('/api/v1/auth/session')
        .set('X-Forwarded-For', ip);
      expect(remove.status).toBe(429);
    });
  });
});
