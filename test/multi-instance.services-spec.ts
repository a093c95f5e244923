import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MockOpenAI, startMockOpenAI } from '../tools/mock-openai/mock-openai';
import { PASSWORD } from './support/auth-helpers';
import { ensureAdmin } from './support/process-admin';
import { type ProcessApp, startProcessApp } from './support/process-app';

// The `services` Jest project (npm run test:services) runs this only with both set.
const databaseUrl = process.env.DATABASE_URL!;
const redisUrl = process.env.REDIS_URL!;

/**
 * docs/reference.md "Scale": two Keyward processes behind one (imaginary) load balancer, sharing
 * PostgreSQL and Redis. Every guarantee must hold across both.
 */
describe('Two instances sharing PostgreSQL and Redis', () => {
  let a: ProcessApp;
  let b: ProcessApp;
  let mock: MockOpenAI;
  const dirs: string[] = [];
  const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const admin = `multi_admin_${run}`;

  const post = async (app: ProcessApp, path: string, body: unknown, token?: string) =>
    fetch(`${app.url}${path}`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
  const me = (app: ProcessApp, token: string) =>
    fetch(`${app.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
  const login = async (app: ProcessApp, username: string, password = PASSWORD) =>
    post(app, '/api/v1/auth/token', { grant_type: 'password', username, password });
  const tokenOf = async (app: ProcessApp, username: string) =>
    ((await (await login(app, username)).json()) as { access_token: string }).access_token;

  async function createUser(
    name: string,
    limits: { chatRpm?: number; chatDailyTokens?: number } = {},
  ) {
    const adminToken = await tokenOf(a, admin);
    const created = await post(
      a,
      '/api/v1/admin/users',
      { username: name, password: PASSWORD },
      adminToken,
    );
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    if (Object.keys(limits).length) {
      const patched = await fetch(`${a.url}/api/v1/admin/users/${id}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
        body: JSON.stringify(limits),
      });
      expect(patched.status).toBe(200);
    }
    return name;
  }

  beforeAll(async () => {
    // Every upstream answer takes a second, so concurrent requests are all in flight (all
    // reserved, none settled) at once: what they reserve is bounded by the shared budget.
    mock = await startMockOpenAI({ latencyMs: 1000 });
    const env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `${process.env.REDIS_KEY_PREFIX ?? 'keyward-test:'}multi-${run}:`,
      JWT_SIGNING_KEYS: generateKeyPairSync('ec', { namedCurve: 'P-256' })
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
      COOKIE_SECRETS: randomBytes(32).toString('base64url'),
      OPENAI_API_KEY: 'sk-mock-keyward',
      OPENAI_BASE_URL: mock.url,
      BOOTSTRAP_ADMIN_USERNAME: admin,
      BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
    };
    const dir = () => {
      const path = mkdtempSync(join(tmpdir(), 'keyward-multi-'));
      dirs.push(path);
      return path;
    };
    await ensureAdmin(admin, PASSWORD, { ...env, DATA_DIR: dir() });
    a = await startProcessApp({ ...env, DATA_DIR: dir() });
    b = await startProcessApp({ ...env, DATA_DIR: dir() });
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await mock?.close();
    for (const path of dirs) rmSync(path, { recursive: true, force: true });
  });

  it('accepts on B a token issued by A', async () => {
    const name = await createUser(`multi_login_${run}`);
    const token = await tokenOf(a, name);
    const res = await me(b, token);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { username: string }).username).toBe(name);
  });

  it('refuses on B, within 5 s, a session logged out on A', async () => {
    const name = await createUser(`multi_logout_${run}`);
    const token = await tokenOf(a, name);
    expect((await me(b, token)).status).toBe(200);
    expect((await post(a, '/api/v1/auth/logout', {}, token)).status).toBe(204);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 5000) {
      status = (await me(b, token)).status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(401);
  });

  it('locks an account on both instances after failures split across them', async () => {
    const name = await createUser(`multi_lock_${run}`);
    for (const app of [a, b, a, b, a])
      expect((await login(app, name, 'wrong-password-000')).status).toBe(400);
    expect((await login(b, name)).status).toBe(429);
    expect((await login(a, name)).status).toBe(429);
  });

  it('judges at most 5 of 60 parallel wrong passwords split over both instances (issue 14)', async () => {
    const name = await createUser(`multi_parallel_${run}`);
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        login(i % 2 ? a : b, name, `wrong-password-${i}`).then((res) => res.status),
      ),
    );
    const judged = answers.filter((status) => status === 400).length;
    expect(judged).toBeGreaterThanOrEqual(1);
    expect(judged).toBeLessThanOrEqual(5);
    expect(answers.filter((status) => status !== 400).every((status) => status === 429)).toBe(true);
  });

  it('shares the per-minute request limit: concurrent requests over both never exceed it', async () => {
    const name = await createUser(`multi_rpm_${run}`, { chatRpm: 4 });
    const [tokenA, tokenB] = [await tokenOf(a, name), await tokenOf(b, name)];
    mock.reset();
    const chat = (app: ProcessApp, token: string) =>
      post(
        app,
        '/v1/chat/completions',
        { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
        token,
      );
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? chat(a, tokenA) : chat(b, tokenB))),
    );
    const ok = results.filter((res) => res.status === 200).length;
    expect(ok).toBe(4);
    expect(results.filter((res) => res.status === 429)).toHaveLength(6);
    expect(mock.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(4);
  });

  it('shares the daily token budget: concurrent requests over both never overspend it', async () => {
    const name = await createUser(`multi_budget_${run}`, { chatDailyTokens: 1000 });
    const [tokenA, tokenB] = [await tokenOf(a, name), await tokenOf(b, name)];
    const chat = (app: ProcessApp, token: string) =>
      post(
        app,
        '/v1/chat/completions',
        {
          model: 'gpt-4o-mini',
          max_tokens: 300,
          messages: [{ role: 'user', content: 'hello there' }],
        },
        token,
      );
    mock.reset();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? chat(a, tokenA) : chat(b, tokenB))),
    );
    const admitted = results.filter((res) => res.status === 200).length;
    expect(admitted).toBeGreaterThan(0);
    expect(results.filter((res) => res.status === 429)).toHaveLength(10 - admitted);
    // Each admitted request reserved its prompt plus the max_tokens Keyward sent upstream
    // (clamped to what was left). Shared, those reservations fit in 1000 together; with a
    // budget per instance they would add up to nearly twice that.
    const upstream = mock.requests.filter((r) => r.path === '/v1/chat/completions');
    expect(upstream).toHaveLength(admitted);
    const granted = upstream.map((r) => {
      const body = r.body as { max_tokens?: number; max_completion_tokens?: number };
      return body.max_completion_tokens ?? body.max_tokens ?? Number.POSITIVE_INFINITY;
    });
    expect(granted.reduce((sum, n) => sum + n, 0)).toBeLessThanOrEqual(1000);
    const usage = (await (
      await fetch(`${b.url}/api/v1/usage`, { headers: { Authorization: `Bearer ${tokenB}` } })
    ).json()) as {
      totals: { totalTokens: number };
    };
    expect(usage.totals.totalTokens).toBeGreaterThan(0);
    expect(usage.totals.totalTokens).toBeLessThanOrEqual(1000);
  });

  it("caps a team key at the team's N tokens a day across both instances (issue 15)", async () => {
    const adminToken = await tokenOf(a, admin);
    const team = await post(
      a,
      '/api/v1/admin/teams',
      { name: `multi_team_${run}`, dailyTokens: 1000 },
      adminToken,
    );
    expect(team.status).toBe(201);
    const { id: teamId } = (await team.json()) as { id: string };
    const name = await createUser(`multi_team_admin_${run}`);
    const userToken = await tokenOf(a, name);
    const me = (await (
      await fetch(`${a.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${userToken}` } })
    ).json()) as { id: string };
    const member = await fetch(`${b.url}/api/v1/teams/${teamId}/members/${me.id}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ role: 'team_admin' }),
    });
    expect(member.status).toBe(200);
    const created = await post(b, '/api/v1/keys', { name: 'team key', teamId }, userToken);
    expect(created.status).toBe(201);
    const { key, id: keyId } = (await created.json()) as { key: string; id: string };
    const chat = (app: ProcessApp, content = 'hello there') =>
      post(
        app,
        '/v1/chat/completions',
        { model: 'gpt-4o-mini', max_tokens: 300, messages: [{ role: 'user', content }] },
        key,
      );
    mock.reset();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => chat(i % 2 ? a : b)));
    const admitted = results.filter((res) => res.status === 200).length;
    expect(admitted).toBeGreaterThan(0);
    const refused = results.filter((res) => res.status === 429);
    expect(refused).toHaveLength(10 - admitted);
    for (const res of refused)
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe(
        'team.daily_tokens',
      );
    const upstream = mock.requests.filter((r) => r.path === '/v1/chat/completions');
    expect(upstream).toHaveLength(admitted);
    const granted = upstream.map((r) => {
      const body = r.body as { max_tokens?: number; max_completion_tokens?: number };
      return body.max_completion_tokens ?? body.max_tokens ?? Number.POSITIVE_INFINITY;
    });
    expect(granted.reduce((sum, n) => sum + n, 0)).toBeLessThanOrEqual(1000);
    // Then one call after another, alternating instances, until the team's day is spent:
    // refused at N, never past it.
    let last = 200;
    // (Long prompts, ~200 tokens billed each, so it takes a few calls, not hundreds.)
    for (let i = 0; i < 20 && last === 200; i += 1)
      last = (await chat(i % 2 ? a : b, 'x'.repeat(600))).status;
    expect(last).toBe(429);
    const keys = (await (
      await fetch(`${a.url}/api/v1/keys`, { headers: { Authorization: `Bearer ${userToken}` } })
    ).json()) as Array<{ id: string; spend: { todayTokens: number } }>;
    const spent = keys.find((k) => k.id === keyId)!.spend.todayTokens;
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(1000);
  }, 60_000);
});
