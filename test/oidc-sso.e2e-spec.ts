import { AuditService } from '../src/audit/audit.service';
import { TeamsService } from '../src/teams/teams.service';
import { UsersService } from '../src/users/users.service';
import { createUser, PASSWORD } from './support/auth-helpers';
import { CookieJar, step, TestProvider, walkToCallback } from './support/oidc/test-provider';
import { createTestApp, type TestApp, uniqueName } from './support/test-app';

/**
 * Single sign-on against a real OpenID Provider (oidc-provider over https, its own CA), at
 * the HTTP level: every redirect of the flow is followed by hand, so each check can be
 * bent (state, nonce, a replayed code, a rewritten ID token).
 */
describe('OIDC sign-in (HTTP)', () => {
  let op: TestProvider;
  let t: TestApp;
  let url: string;
  let breakGlass: string;

  beforeAll(async () => {
    op = await TestProvider.start();
    breakGlass = uniqueName('glass');
    t = await createTestApp(
      // Room for every sign-in below from one address (AUTH_PUBLIC_RPM counts each OIDC route).
      op.env({ OIDC_ONLY: 'true', OIDC_BREAK_GLASS_USERS: breakGlass, AUTH_PUBLIC_RPM: '300' }),
    );
    url = await t.listen();
    await op.setup(url);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    op?.stop();
  });

  /** Starts a sign-in; returns the jar (with the transaction cookie) and the IdP URL. */
  const start = async (returnTo = '/', jar = new CookieJar()) => {
    const { response, location } = await step(
      jar,
      `${url}/api/v1/auth/oidc/login?returnTo=${encodeURIComponent(returnTo)}`,
    );
    expect(response.status).toBe(302);
    expect(location?.startsWith(`${op.issuer}/auth?`)).toBe(true);
    return { jar, idpUrl: location! };
  };

  /** A whole sign-in as `account`; returns the callback's answer. */
  const signIn = async (account: string, returnTo = '/') => {
    const { jar, idpUrl } = await start(returnTo);
    const callback = await walkToCallback(jar, idpUrl, account, url);
    const done = await step(jar, callback);
    return { jar, callback, ...done };
  };

  const me = (jar: CookieJar) =>
    fetch(`${url}/api/v1/auth/me`, { headers: { cookie: jar.header(url) } });
  interface Me {
    id: string;
    username: string;
    roles: string[];
    authMethod: string;
  }
  const who = async (jar: CookieJar) => (await (await me(jar)).json()) as Me;

  const events = async (event: string) =>
    (await t.app.get(AuditService).list({ limit: 500 })).filter((row) => row.event === event);

  it('reports the configuration to the console', async () => {
    const res = await fetch(`${url}/api/v1/auth/oidc/config`);
    expect(await res.json()).toEqual({ enabled: true, displayName: 'Test OP' });
  });

  it('sends the browser to the IdP with PKCE (S256), state and nonce, no secret in the URL', async () => {
    const { jar, idpUrl } = await start();
    const params = new URL(idpUrl).searchParams;
    expect(params.get('response_type')).toBe('code');
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.get('state')).toBeTruthy();
    expect(params.get('nonce')).toBeTruthy();
    expect(params.get('redirect_uri')).toBe(`${url}/api/v1/auth/oidc/callback`);
    expect(idpUrl).not.toContain('secret');
    // The transaction cookie is encrypted: neither state nor verifier can be read from it.
    const cookie = jar.get(url, 'kw_oidc')!;
    expect(cookie).toMatch(/^e1\./);
    expect(cookie).not.toContain(params.get('state')!);
  });

  it('creates the user on first sign-in, maps groups to roles, and sets the session cookies', async () => {
    const sub = uniqueName('sub');
    await op.setUsers({
      [sub]: { preferred_username: 'ada', email: 'ada@corp.example', groups: ['kw-admins'] },
    });
    const { jar, response, location } = await signIn(sub, '/docs?x=1');
    expect(response.status).toBe(302);
    expect(location).toBe(`${url}/docs?x=1`);
    const setCookies = response.headers.getSetCookie().map((line) => line.split('=')[0]);
    expect(setCookies.sort()).toEqual(['kw_access', 'kw_csrf', 'kw_oidc', 'kw_refresh']);
    expect(location).not.toMatch(/token|code=/);
    const whoami = await who(jar);
    expect(whoami).toMatchObject({ roles: ['admin'], authMethod: 'cookie' });
    const created = await events('user.jit_created');
    expect(created.some((row) => row.details.sub === sub)).toBe(true);
    expect((await events('login.sso')).some((row) => row.actorId === whoami.id)).toBe(true);
    // Signing in again finds the same user (linked by issuer + subject).
    const again = await signIn(sub);
    expect((await who(again.jar)).id).toBe(whoami.id);
  });

  it('completes sign-ins started in several tabs, in either order, each once', async () => {
    const sub = uniqueName('sub');
    await op.setUsers({ [sub]: { preferred_username: uniqueName('tabs'), groups: [] } });
    // One browser (one cookie jar), two tabs: both sign-ins are pending at once.
    const jar = new CookieJar();
    const first = await start('/first', jar);
    const second = await start('/second', jar);
    const firstCallback = await walkToCallback(jar, first.idpUrl, sub, url);
    const secondCallback = await walkToCallback(jar, second.idpUrl, sub, url);
    // The tab started last finishes first, then the other: both sign in.
    const secondDone = await step(jar, secondCallback);
    expect(secondDone.location).toBe(`${url}/second`);
    expect(jar.get(url, 'kw_oidc')).toBeDefined();
    const firstDone = await step(jar, firstCallback);
    expect(firstDone.location).toBe(`${url}/first`);
    expect(jar.get(url, 'kw_oidc')).toBeUndefined();
    expect((await who(jar)).authMethod).toBe('cookie');

    // A replayed callback fails, with no sign-in pending or with another tab's pending, and
    // the other tab's sign-in still completes.
    const replay = async (callback: string, reason: string) => {
      const fresh = new CookieJar();
      fresh.set(url, 'kw_oidc', jar.get(url, 'kw_oidc') ?? '');
      const { location } = await step(fresh, callback);
      expect(location).toBe(`${url}/?sso_error=${reason}`);
      expect(fresh.get(url, 'kw_access')).toBeUndefined();
    };
    await replay(firstCallback, 'expired');
    const third = await start('/third', jar);
    const thirdCallback = await walkToCallback(jar, third.idpUrl, sub, url);
    await replay(secondCallback, 'failed');
    await replay(firstCallback, 'failed');
    expect((await step(jar, thirdCallback)).location).toBe(`${url}/third`);
    await replay(thirdCallback, 'expired');
  });

  it('keeps a few sign-ins pending at most: the oldest is dropped', async () => {
    const sub = uniqueName('sub');
    await op.setUsers({ [sub]: { preferred_username: uniqueName('many'), groups: [] } });
    const jar = new CookieJar();
    const flows = [];
    for (let i = 0; i < 5; i += 1) flows.push(await start(`/tab${i}`, jar));
    const callbacks = [];
    for (const flow of flows) callbacks.push(await walkToCallback(jar, flow.idpUrl, sub, url));
    // Four kept (docs/sso.md): the first tab's sign-in is gone, the newest four complete.
    expect((await step(jar, callbacks[0])).location).toBe(`${url}/?sso_error=failed`);
    for (let i = 1; i < 5; i += 1) {
      expect((await step(jar, callbacks[i])).location).toBe(`${url}/tab${i}`);
    }
    expect(jar.get(url, 'kw_oidc')).toBeUndefined();
  });

  it('never links by username: a local account of that name gets a distinct SSO user', async () => {
    const local = await createUser(t, ['admin'], 'local');
    const sub = uniqueName('sub');
    await op.setUsers({ [sub]: { preferred_username: local.username, groups: [] } });
    const { jar } = await signIn(sub);
    const whoami = await who(jar);
    expect(whoami.id).not.toBe(local.id);
    expect(whoami.username).not.toBe(local.username);
    expect(whoami.username.startsWith(`${local.username}.sso-`)).toBe(true);
    expect(whoami.roles).toEqual(['user']);
  });

  it('re-evaluates roles at each sign-in: a lost group removes the role and ends the other sessions', async () => {
    const sub = uniqueName('sub');
    await op.setUsers({
      [sub]: { preferred_username: uniqueName('bo'), groups: ['kw-admins', 'ops'] },
    });
    const first = await signIn(sub);
    const before = await who(first.jar);
    expect(before.roles).toEqual(['admin']);
    await op.setUsers({ [sub]: { preferred_username: 'bo', groups: ['kw-users'] } });
    const second = await signIn(sub);
    expect((await who(second.jar)).roles).toEqual(['user']);
    expect((await me(first.jar)).status).toBe(401);
    const changed = await events('user.roles_changed');
    expect(changed.some((row) => row.subject === before.id && row.details.via === 'sso')).toBe(
      true,
    );
  });

  it('manages the membership of the teams OIDC_ROLE_MAP names, and only those', async () => {
    const teams = t.app.get(TeamsService);
    const ops = await teams.create({ name: 'ops' }, {});
    const other = await teams.create({ name: uniqueName('other') }, {});
    const sub = uniqueName('sub');
    await op.setUsers({ [sub]: { preferred_username: uniqueName('tm'), groups: ['ops'] } });
    const first = await signIn(sub);
    const id = (await who(first.jar)).id;
    const admin = { userId: id, roles: ['admin'] } as unknown as Parameters<
      TeamsService['members']
    >[0];
    expect((await teams.members(admin, ops.id)).map((m) => [m.userId, m.role])).toEqual([
      [id, 'member'],
    ]);
    // A membership an admin gave in a team the map does not name is left alone.
    await teams.putMember(admin, other.id, id, 'team_admin');
    await op.setUsers({ [sub]: { preferred_username: 'tm', groups: [] } });
    await signIn(sub);
    expect(await teams.members(admin, ops.id)).toEqual([]);
    expect((await teams.members(admin, other.id)).map((m) => m.role)).toEqual(['team_admin']);
    const removed = await events('team.member_removed');
    expect(removed.some((row) => row.subject === ops.id && row.details.via === 'sso')).toBe(true);
  });

  it("refuses a role claim sent as a pointer (Entra's groups overage) and keeps the user's roles", async () => {
    const sub = uniqueName('sub');
    const username = uniqueName('ov');
    await op.setUsers({ [sub]: { preferred_username: username, groups: ['kw-admins'] } });
    const first = await signIn(sub);
    const before = await who(first.jar);
    expect(before.roles).toEqual(['admin']);
    // What Entra sends for a user in more than 200 groups: no `groups`, a pointer instead.
    await op.setUsers({
      [sub]: {
        preferred_username: username,
        _claim_names: { groups: 'src1' },
        _claim_sources: {
          src1: { endpoint: 'https://graph.example/v1.0/users/x/getMemberObjects' },
        },
      },
    });
    const { jar, location } = await signIn(sub);
    expect(location).toBe(`${url}/?sso_error=roles_unavailable`);
    expect(jar.get(url, 'kw_access')).toBeUndefined();
    const logged = t.logs.filter((line) => line.includes('Single sign-on failed')).at(-1);
    expect(logged).toContain("'groups' claim as a pointer");
    // Unknown is not empty: the admin keeps the role and the session they had.
    expect((await who(first.jar)).roles).toEqual(['admin']);
    const failed = await events('login.sso_failed');
    expect(failed.some((row) => row.details.reason === 'roles_unavailable')).toBe(true);
  });

  it('creates one user when the first sign-ins of a subject race', async () => {
    const sub = uniqueName('sub');
    await op.setUsers({ [sub]: { preferred_username: uniqueName('race') } });
    const ready = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const { jar, idpUrl } = await start();
        return { jar, callback: await walkToCallback(jar, idpUrl, sub, url) };
      }),
    );
    const done = await Promise.all(ready.map(({ jar, callback }) => step(jar, callback)));
    expect(done.map((d) => d.location)).toEqual(ready.map(() => `${url}/`));
    const ids = await Promise.all(ready.map(async ({ jar }) => (await who(jar)).id));
    expect(new Set(ids).size).toBe(1);
    const created = (await events('user.jit_created')).filter((row) => row.details.sub === sub);
    expect(created).toHaveLength(1);
  });

  it('turns a disabled user away without a session', async () => {
    const sub = uniqueName('sub');
    await op.setUsers({ [sub]: { preferred_username: uniqueName('cy') } });
    const first = await signIn(sub);
    const id = (await who(first.jar)).id;
    await t.app.get(UsersService).update(id, { disabled: true });
    const { jar, location } = await signIn(sub);
    expect(location).toBe(`${url}/?sso_error=disabled`);
    expect(jar.get(url, 'kw_access')).toBeUndefined();
  });

  describe('refuses, without a session and without a 500', () => {
    let sub: string;
    beforeAll(async () => {
      sub = uniqueName('sub');
      await op.setUsers({
        [sub]: { preferred_username: uniqueName('neg'), groups: ['kw-admins'] },
      });
    });

    /** Refused, for the reason (openid-client's error code) named in the log. */
    const refused = async (jar: CookieJar, callback: string, cause: string, reason = 'failed') => {
      const { response, location } = await step(jar, callback);
      const logged = t.logs.filter((line) => line.includes('Single sign-on failed')).at(-1);
      expect(logged).toContain(cause);
      expect(response.status).toBe(302);
      expect(location).toBe(`${url}/?sso_error=${reason}`);
      expect(jar.get(url, 'kw_access')).toBeUndefined();
      expect(jar.get(url, 'kw_refresh')).toBeUndefined();
    };

    it('a wrong state', async () => {
      const { jar, idpUrl } = await start();
      const callback = new URL(await walkToCallback(jar, idpUrl, sub, url));
      callback.searchParams.set('state', 'forged-state');
      await refused(jar, callback.toString(), 'state matches no sign-in in progress');
    });

    it('a callback without the sign-in cookie (another browser, or expired)', async () => {
      const { jar, idpUrl } = await start();
      const callback = await walkToCallback(jar, idpUrl, sub, url);
      await refused(new CookieJar(), callback, 'no sign-in in progress', 'expired');
    });

    it('a replayed code (with the transaction cookie kept by an attacker)', async () => {
      const { jar, idpUrl } = await start();
      const transaction = jar.get(url, 'kw_oidc')!;
      const callback = await walkToCallback(jar, idpUrl, sub, url);
      const ok = await step(jar, callback);
      expect(ok.location).toBe(`${url}/`);
      const replay = new CookieJar();
      replay.set(url, 'kw_oidc', transaction);
      await refused(replay, callback, 'OAUTH_RESPONSE_BODY_ERROR');
    });

    it('an ID token whose nonce is not the one sent', async () => {
      const { jar, idpUrl } = await start();
      const bent = new URL(idpUrl);
      bent.searchParams.set('nonce', 'attacker-nonce');
      const callback = await walkToCallback(jar, bent.toString(), sub, url);
      await refused(jar, callback, 'OAUTH_JWT_CLAIM_COMPARISON_FAILED');
    });

    it.each([
      ['issuer', 'OAUTH_JWT_CLAIM_COMPARISON_FAILED'],
      ['audience', 'OAUTH_JWT_CLAIM_COMPARISON_FAILED'],
      ['expired', 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED'],
      ['alg-none', 'OAUTH_INVALID_RESPONSE'],
    ] as const)('an ID token rewritten: %s', async (mode, cause) => {
      const { jar, idpUrl } = await start();
      const callback = await walkToCallback(jar, idpUrl, sub, url);
      await op.tamperNext(mode);
      await refused(jar, callback, cause);
    });

    it('an IdP error (access_denied) as a clear redirect', async () => {
      const { jar, idpUrl } = await start();
      // The OP answers access_denied for an account it does not know.
      const callback = await walkToCallback(jar, idpUrl, 'nobody-at-all', url);
      expect(new URL(callback).searchParams.get('error')).toBe('access_denied');
      await refused(jar, callback, 'OAUTH_AUTHORIZATION_RESPONSE_ERROR', 'access_denied');
    });

    it('records each failure in the audit log', async () => {
      expect((await events('login.sso_failed')).length).toBeGreaterThanOrEqual(8);
    });
  });

  it('keeps returnTo on this origin', async () => {
    for (const evil of ['//evil.example', '/\\evil.example', 'https://evil.example/', '/%0a/x']) {
      const { jar, idpUrl } = await start(evil);
      const sub = uniqueName('sub');
      await op.setUsers({ [sub]: { preferred_username: uniqueName('rt') } });
      const callback = await walkToCallback(jar, idpUrl, sub, url);
      const { location } = await step(jar, callback);
      expect(location?.startsWith(`${url}/`)).toBe(true);
      expect(new URL(location!).host).toBe(new URL(url).host);
    }
  });

  describe('OIDC_ONLY', () => {
    it('refuses password sign-in to everyone but the break-glass admin', async () => {
      const plain = await createUser(t, ['admin']);
      const session = await fetch(`${url}/api/v1/auth/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: plain.username, password: PASSWORD }),
      });
      expect(session.status).toBe(403);
      const token = await fetch(`${url}/api/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'password',
          username: plain.username,
          password: PASSWORD,
        }),
      });
      expect(token.status).toBe(400);
      expect(((await token.json()) as { error: string }).error).toBe('invalid_grant');

      await t.app
        .get(UsersService)
        .create({ username: breakGlass, password: PASSWORD, roles: ['admin'] });
      const glass = await fetch(`${url}/api/v1/auth/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: breakGlass, password: PASSWORD }),
      });
      expect(glass.status).toBe(200);
    });
  });

  it('logs out at the IdP too: a same-origin redirect to end_session_endpoint with id_token_hint, once', async () => {
    const sub = uniqueName('sub');
    await op.setUsers({ [sub]: { preferred_username: uniqueName('lo') } });
    const { jar } = await signIn(sub);
    const res = await step(jar, `${url}/api/v1/auth/oidc/logout`, {
      method: 'POST',
      headers: { 'x-csrf-token': jar.get(url, 'kw_csrf')! },
    });
    expect(res.response.status).toBe(200);
    const text = await res.response.text();
    // No token reaches page script: only a same-origin route.
    expect(JSON.parse(text)).toEqual({ redirectTo: '/api/v1/auth/oidc/end-session' });
    expect(text).not.toContain('eyJ');
    expect((await me(jar)).status).toBe(401);
    const end = await step(jar, `${url}/api/v1/auth/oidc/end-session`);
    expect(end.response.status).toBe(302);
    const target = new URL(end.location!);
    expect(target.origin).toBe(op.issuer);
    expect(target.searchParams.get('id_token_hint')).toMatch(/^ey/);
    expect(target.searchParams.get('post_logout_redirect_uri')).toBe(`${url}/`);
    // Once: the cookie is cleared and the stored ID token deleted.
    const again = await step(jar, `${url}/api/v1/auth/oidc/end-session`);
    expect(again.location).toBe(`${url}/`);
  });

  it("keeps other tabs' sign-ins in progress through a logout, and the logout through their callbacks", async () => {
    const sub = uniqueName('sub');
    await op.setUsers({ [sub]: { preferred_username: uniqueName('lotabs') } });
    const { jar } = await signIn(sub);
    // Two more tabs of this browser are at the IdP's sign-in page.
    const first = await start('/first', jar);
    const second = await start('/second', jar);
    const firstCallback = await walkToCallback(jar, first.idpUrl, sub, url);
    const secondCallback = await walkToCallback(jar, second.idpUrl, sub, url);
    // The signed-in tab logs out; one tab finishes its sign-in before the IdP logout, one after.
    const logout = await step(jar, `${url}/api/v1/auth/oidc/logout`, {
      method: 'POST',
      headers: { 'x-csrf-token': jar.get(url, 'kw_csrf')! },
    });
    expect(await logout.response.json()).toEqual({ redirectTo: '/api/v1/auth/oidc/end-session' });
    expect((await step(jar, firstCallback)).location).toBe(`${url}/first`);
    const end = await step(jar, `${url}/api/v1/auth/oidc/end-session`);
    expect(new URL(end.location!).origin).toBe(op.issuer);
    expect(jar.get(url, 'kw_oidc')).toBeDefined();
    expect((await step(jar, secondCallback)).location).toBe(`${url}/second`);
    expect(jar.get(url, 'kw_oidc')).toBeUndefined();
    expect((await who(jar)).authMethod).toBe('cookie');
    // Each once: the logout and both sign-ins are used up.
    expect((await step(jar, `${url}/api/v1/auth/oidc/end-session`)).location).toBe(`${url}/`);
    expect((await step(jar, secondCallback)).location).toBe(`${url}/?sso_error=expired`);
  });

  it('answers null for a local session (nothing to end at the IdP)', async () => {
    const jar = new CookieJar();
    // The break-glass admin (created by the OIDC_ONLY test, or here) signs in with a password.
    if (!(await t.app.get(UsersService).findByUsername(breakGlass))) {
      await t.app
        .get(UsersService)
        .create({ username: breakGlass, password: PASSWORD, roles: ['admin'] });
    }
    const session = await step(jar, `${url}/api/v1/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: breakGlass, password: PASSWORD }),
    });
    expect(session.response.status).toBe(200);
    const res = await step(jar, `${url}/api/v1/auth/oidc/logout`, {
      method: 'POST',
      headers: { 'x-csrf-token': jar.get(url, 'kw_csrf')! },
    });
    expect(await res.response.json()).toEqual({ redirectTo: null });
    expect(jar.get(url, 'kw_access')).toBeUndefined();
  });
});
