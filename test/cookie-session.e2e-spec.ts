import request from 'supertest';
import { CookieSealer } from '../src/cookies/cookie-sealer';
import { CookieService } from '../src/cookies/cookie.service';
import { createUser, jwtPart, login, type TestUser } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

type Jar = Record<string, string>;

function setCookies(res: request.Response): string[] {
  const header = res.headers['set-cookie'] as string[] | string | undefined;
  return header === undefined ? [] : Array.isArray(header) ? header : [header];
}

function jarFrom(res: request.Response, jar: Jar = {}): Jar {
  for (const line of setCookies(res)) {
    const [pair] = line.split(';');
    const index = pair.indexOf('=');
    const name = pair.slice(0, index);
    const value = pair.slice(index + 1);
    if (value === '' || /Max-Age=0/i.test(line)) delete jar[name];
    else jar[name] = value;
  }
  return jar;
}

const cookieHeader = (jar: Jar) =>
  Object.entries(jar)
    .map(([name, value]) => `${name}=${value}`)
    .join('; ');

describe('Browser session on secure cookies', () => {
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp();
    user = await createUser(t);
  });
  afterAll(() => t.close());

  const signIn = async () => {
    const res = await request(t.server)
      .post('/api/v1/auth/session')
      .send({ username: user.username, password: user.password })
      .expect(200);
    return { res, jar: jarFrom(res), csrf: res.body.csrfToken as string };
  };

  it('sets exactly the three policy cookies with the attributes of the spec, and no token in the body', async () => {
    const { res } = await signIn();
    const lines = setCookies(res);
    expect(lines).toHaveLength(3);
    const byName = Object.fromEntries(lines.map((line) => [line.split('=')[0], line]));
    expect(byName['__Host-kw_access']).toMatch(
      /; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
    );
    expect(byName['__Secure-kw_refresh']).toMatch(
      /; Max-Age=86\d{3}; Path=\/api\/v1\/auth\/session; HttpOnly; Secure; SameSite=Strict$/,
    );
    expect(byName['__Host-kw_csrf']).toMatch(
      /; Max-Age=86\d{3}; Path=\/; Secure; SameSite=Strict$/,
    );
    expect(byName['__Host-kw_csrf']).not.toMatch(/HttpOnly/);
    for (const line of lines) expect(line).not.toMatch(/Domain=/i);
    expect(res.body).toEqual({
      user: { id: user.id, username: user.username, roles: ['user'] },
      csrfToken: expect.any(String),
    });
    const text = JSON.stringify(res.body);
    expect(text).not.toMatch(/eyJ/);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('refuses a form post to the browser login (415), so a cross-site form cannot sign anyone in', async () => {
    await request(t.server)
      .post('/api/v1/auth/session')
      .type('form')
      .send({ username: user.username, password: user.password })
      .expect(415);
  });

  it('authenticates GET requests with the access cookie, no CSRF token needed', async () => {
    const { jar } = await signIn();
    const me = await request(t.server)
      .get('/api/v1/auth/me')
      .set('Cookie', cookieHeader(jar))
      .expect(200);
    expect(me.body).toMatchObject({ id: user.id, authMethod: 'cookie' });
  });

  it('lets Authorization win over cookies, with no CSRF needed for Bearer', async () => {
    const { jar } = await signIn();
    const other = await createUser(t);
    const bearer = (await login(t, other)).access_token;
    const me = await request(t.server)
      .get('/api/v1/auth/me')
      .set('Cookie', cookieHeader(jar))
      .set('Authorization', `Bearer ${bearer}`)
      .expect(200);
    expect(me.body).toMatchObject({ id: other.id, authMethod: 'jwt' });
    await request(t.server)
      .post('/api/v1/keys')
      .set('Cookie', cookieHeader(jar))
      .set('Authorization', `Bearer ${bearer}`)
      .send({ name: 'k' })
      .expect(201);
    // A bad Authorization header is not rescued by a valid cookie.
    await request(t.server)
      .get('/api/v1/auth/me')
      .set('Cookie', cookieHeader(jar))
      .set('Authorization', 'Bearer nope')
      .expect(401);
  });

  describe('CSRF on cookie-authenticated unsafe requests', () => {
    it('passes with the session token', async () => {
      const { jar, csrf } = await signIn();
      await request(t.server)
        .post('/api/v1/keys')
        .set('Cookie', cookieHeader(jar))
        .set('X-CSRF-Token', csrf)
        .send({ name: 'ok' })
        .expect(201);
    });

    it.each([
      ['no token', (_csrf: string) => ({})],
      ['a wrong token', (_csrf: string) => ({ 'X-CSRF-Token': 'abc.def' })],
      [
        'a foreign Origin',
        (csrf: string) => ({ 'X-CSRF-Token': csrf, Origin: 'https://evil.example' }),
      ],
      ['Origin: null', (csrf: string) => ({ 'X-CSRF-Token': csrf, Origin: 'null' })],
      [
        'Sec-Fetch-Site: cross-site',
        (csrf: string) => ({ 'X-CSRF-Token': csrf, 'Sec-Fetch-Site': 'cross-site' }),
      ],
    ])('refuses %s with 403', async (_name, headers) => {
      const { jar, csrf } = await signIn();
      const res = await request(t.server)
        .post('/api/v1/keys')
        .set('Cookie', cookieHeader(jar))
        .set(headers(csrf))
        .send({ name: 'x' })
        .expect(403);
      expect(res.body.type).toBe('urn:keyward:problem:csrf_failed');
    });

    it('refuses the token of another session, even when the CSRF cookie is swapped to match', async () => {
      const a = await signIn();
      const b = await signIn();
      const jar = { ...a.jar, '__Host-kw_csrf': b.csrf };
      await request(t.server)
        .post('/api/v1/keys')
        .set('Cookie', cookieHeader(jar))
        .set('X-CSRF-Token', b.csrf)
        .send({ name: 'x' })
        .expect(403);
    });

    it('accepts a same-origin Origin header', async () => {
      const { jar, csrf } = await signIn();
      await request(t.server)
        .post('/api/v1/keys')
        .set('Cookie', cookieHeader(jar))
        .set('X-CSRF-Token', csrf)
        .set('Host', 'keyward.test')
        .set('Origin', 'http://keyward.test')
        .send({ name: 'same-origin' })
        .expect(201);
    });
  });

  it('rotates the session on refresh (CSRF required) and refuses the old refresh cookie afterwards', async () => {
    const { jar, csrf } = await signIn();
    await request(t.server)
      .post('/api/v1/auth/session/refresh')
      .set('Cookie', cookieHeader(jar))
      .expect(403);
    const refreshed = await request(t.server)
      .post('/api/v1/auth/session/refresh')
      .set('Cookie', cookieHeader(jar))
      .set('X-CSRF-Token', csrf)
      .expect(200);
    const next = jarFrom(refreshed, { ...jar });
    expect(next['__Secure-kw_refresh']).not.toBe(jar['__Secure-kw_refresh']);
    expect(next['__Host-kw_access']).not.toBe(jar['__Host-kw_access']);
    expect(JSON.stringify(refreshed.body)).not.toMatch(/eyJ/);
    await request(t.server).get('/api/v1/auth/me').set('Cookie', cookieHeader(next)).expect(200);
    // Replaying the old refresh cookie from another client is reuse: the family is revoked.
    // (The same client within REFRESH_REUSE_GRACE_SECONDS is two tabs: adversarial-identity.)
    const replay = await request(t.server)
      .post('/api/v1/auth/session/refresh')
      .set('Cookie', cookieHeader(jar))
      .set('User-Agent', 'replayer/1.0')
      .set('X-CSRF-Token', csrf);
    expect(replay.status).toBe(401);
    await request(t.server).get('/api/v1/auth/me').set('Cookie', cookieHeader(next)).expect(401);
  });

  it('clears the cookies on logout and refuses the old access cookie within 5 s', async () => {
    const { jar, csrf } = await signIn();
    // Sign-out is an unsafe method like any other: without the CSRF token (or with another
    // session's), 403, and the session lives on.
    const other = await signIn();
    for (const token of [undefined, other.csrf]) {
      const refused = request(t.server)
        .delete('/api/v1/auth/session')
        .set('Cookie', cookieHeader(jar));
      const res = await (token ? refused.set('X-CSRF-Token', token) : refused).expect(403);
      expect(res.body.type).toBe('urn:keyward:problem:csrf_failed');
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    await request(t.server).get('/api/v1/auth/me').set('Cookie', cookieHeader(jar)).expect(200);
    const res = await request(t.server)
      .delete('/api/v1/auth/session')
      .set('Cookie', cookieHeader(jar))
      .set('X-CSRF-Token', csrf)
      .expect(204);
    const cleared = setCookies(res);
    expect(cleared).toHaveLength(3);
    for (const line of cleared) expect(line).toMatch(/Max-Age=0/);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 5000) {
      status = (await request(t.server).get('/api/v1/auth/me').set('Cookie', cookieHeader(jar)))
        .status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status).toBe(401);
    await request(t.server)
      .post('/api/v1/auth/session/refresh')
      .set('Cookie', cookieHeader(jar))
      .set('X-CSRF-Token', csrf)
      .expect(401);
  });

  it('treats tampered access, refresh and CSRF cookies as absent (401/403), never 500', async () => {
    const { jar, csrf } = await signIn();
    const flip = (value: string) =>
      `${value.slice(0, -3)}${value.at(-3) === 'A' ? 'B' : 'A'}${value.slice(-2)}`;
    await request(t.server)
      .get('/api/v1/auth/me')
      .set('Cookie', cookieHeader({ ...jar, '__Host-kw_access': flip(jar['__Host-kw_access']) }))
      .expect(401);
    for (const bad of [
      flip(jar['__Secure-kw_refresh']),
      'e1.garbage.value',
      '%%%',
      'x'.repeat(4000),
    ]) {
      await request(t.server)
        .post('/api/v1/auth/session/refresh')
        .set('Cookie', cookieHeader({ ...jar, '__Secure-kw_refresh': bad }))
        .set('X-CSRF-Token', csrf)
        .expect(401);
    }
    await request(t.server)
      .post('/api/v1/keys')
      .set('Cookie', cookieHeader({ ...jar, '__Host-kw_csrf': flip(csrf) }))
      .set('X-CSRF-Token', flip(csrf))
      .send({ name: 'x' })
      .expect(403);
  });

  it('offers signed and encrypted values that read as absent when tampered, expired or foreign', () => {
    const cookies = t.app.get(CookieService);
    const sealed = cookies.sealer.encrypt('n', 'secret value', 60);
    expect(sealed).not.toContain('secret value');
    expect(cookies.sealer.decrypt('n', sealed)).toBe('secret value');
    expect(cookies.sealer.decrypt('other-name', sealed)).toBeUndefined();
    expect(
      cookies.sealer.decrypt('n', cookies.sealer.encrypt('n', 'v', 60, Date.now() - 120_000)),
    ).toBeUndefined();
    const signed = cookies.sealer.sign('n', 'visible', 60);
    expect(cookies.sealer.unsign('n', signed)).toBe('visible');
    expect(cookies.sealer.unsign('n', signed.replace('.', '.9'))).toBeUndefined();
  });

  it('keeps the refresh token out of reach: the cookie holds it encrypted', async () => {
    const { jar } = await signIn();
    expect(jar['__Secure-kw_refresh']).toMatch(/^e1\./);
  });

  it('writes no cookie value into the logs (Set-Cookie and Cookie are redacted)', async () => {
    const { jar, csrf } = await signIn();
    await request(t.server).get('/api/v1/auth/me').set('Cookie', cookieHeader(jar)).expect(200);
    const refreshed = await request(t.server)
      .post('/api/v1/auth/session/refresh')
      .set('Cookie', cookieHeader(jar))
      .set('X-CSRF-Token', csrf)
      .expect(200);
    const values = [...Object.values(jar), ...Object.values(jarFrom(refreshed))];
    expect(values.length).toBeGreaterThanOrEqual(6);
    const text = t.logs.join('\n');
    // The lines of this suite's requests are there (so the scan scans something)...
    expect(t.logs.filter((line) => line.includes('/api/v1/auth/session')).length).toBeGreaterThan(
      3,
    );
    // ...and hold no cookie value, whole or in part.
    for (const value of values) expect(text).not.toContain(value.slice(-24));
  });
});

describe('COOKIE_SECRETS rotation', () => {
  const OLD = 'old-cookie-secret-0123456789abcdef-ok';
  const NEW = 'new-cookie-secret-0123456789abcdef-ok';
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    // The new secret first (it seals), the old one after it (it still opens).
    t = await createTestApp({ COOKIE_SECRETS: `${NEW},${OLD}` });
    user = await createUser(t);
  });
  afterAll(() => t.close());

  /** A browser that signed in before the rotation: its cookies sealed by the old secret. */
  async function cookiesSealedBy(secret: string) {
    const res = await request(t.server)
      .post('/api/v1/auth/session')
      .send({ username: user.username, password: user.password })
      .expect(200);
    const jar = jarFrom(res);
    const current = t.app.get(CookieService).sealer;
    const refreshToken = current.decrypt('__Secure-kw_refresh', jar['__Secure-kw_refresh'])!;
    const sid = jwtPart(jar['__Host-kw_access'], 1).sid as string;
    const old = new CookieSealer([secret]);
    const nonce = 'n0nce-from-before-rotation';
    const csrf = `${nonce}.${old.hmac('csrf', `${sid}.${nonce}`)}`;
    return {
      jar: {
        ...jar,
        '__Secure-kw_refresh': old.encrypt('__Secure-kw_refresh', refreshToken, 3600),
        '__Host-kw_csrf': csrf,
      },
      csrf,
    };
  }

  it('still opens refresh cookies and CSRF tokens sealed by the previous secret, and reseals with the new one', async () => {
    const { jar, csrf } = await cookiesSealedBy(OLD);
    await request(t.server)
      .post('/api/v1/keys')
      .set('Cookie', cookieHeader(jar))
      .set('X-CSRF-Token', csrf)
      .send({ name: 'after rotation' })
      .expect(201);
    const refreshed = await request(t.server)
      .post('/api/v1/auth/session/refresh')
      .set('Cookie', cookieHeader(jar))
      .set('X-CSRF-Token', csrf)
      .expect(200);
    const next = jarFrom(refreshed);
    // The new cookie opens with the new secret alone, not with the old one.
    expect(
      new CookieSealer([NEW]).decrypt('__Secure-kw_refresh', next['__Secure-kw_refresh']),
    ).toEqual(expect.any(String));
    expect(
      new CookieSealer([OLD]).decrypt('__Secure-kw_refresh', next['__Secure-kw_refresh']),
    ).toBeUndefined();
  });

  it('treats cookies sealed by a secret no longer listed as absent', async () => {
    const { jar, csrf } = await cookiesSealedBy('retired-cookie-secret-0123456789abcdef');
    await request(t.server)
      .post('/api/v1/keys')
      .set('Cookie', cookieHeader(jar))
      .set('X-CSRF-Token', csrf)
      .send({ name: 'x' })
      .expect(403);
    await request(t.server)
      .post('/api/v1/auth/session/refresh')
      .set('Cookie', cookieHeader(jar))
      .set('X-CSRF-Token', csrf)
      .expect(401);
  });
});

describe('Cookies in plain-http development (COOKIE_SECURE=false)', () => {
  let t: TestApp;
  afterAll(() => t.close());

  it('drops Secure and the prefixes, keeps HttpOnly and SameSite', async () => {
    t = await createTestApp({ COOKIE_SECURE: 'false' });
    const user = await createUser(t);
    const res = await request(t.server)
      .post('/api/v1/auth/session')
      .send({ username: user.username, password: user.password })
      .expect(200);
    const lines = setCookies(res);
    expect(lines.map((line) => line.split('=')[0]).sort()).toEqual([
      'kw_access',
      'kw_csrf',
      'kw_refresh',
    ]);
    for (const line of lines) {
      expect(line).not.toMatch(/Secure/);
      expect(line).toMatch(/SameSite=Strict/);
    }
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });
});
