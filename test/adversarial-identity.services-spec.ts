import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PASSWORD } from './support/auth-helpers';
import { ensureAdmin } from './support/process-admin';
import { type ProcessApp, startProcessApp } from './support/process-app';

// The `services` Jest project (npm run test:services) runs this only with both set.
const databaseUrl = process.env.DATABASE_URL!;
const redisUrl = process.env.REDIS_URL!;
const SKEWED_CLOCK = join(__dirname, 'support', 'skewed-clock.mjs');

/**
 * Issue 14, items 10 and 14 across processes: a demotion holds on every instance within
 * 5 s, and cross-instance revocation does not depend on the instances' clocks agreeing.
 */
describe('Adversarial identity across instances', () => {
  const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const admin = `advmulti_admin_${run}`;
  const dirs: string[] = [];
  const apps: ProcessApp[] = [];
  const dir = () => {
    const path = mkdtempSync(join(tmpdir(), 'keyward-advmulti-'));
    dirs.push(path);
    return path;
  };
  const base = {
    DATABASE_URL: databaseUrl,
    JWT_SIGNING_KEYS: generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString(),
    COOKIE_SECRETS: randomBytes(32).toString('base64url'),
  };

  const call = (app: ProcessApp, method: string, path: string, token?: string, body?: unknown) =>
    fetch(`${app.url}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const tokenOf = async (app: ProcessApp, username: string) => {
    const res = await call(app, 'POST', '/api/v1/auth/token', undefined, {
      grant_type: 'password',
      username,
      password: PASSWORD,
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const createUser = async (app: ProcessApp, name: string, roles: string[]) => {
    const res = await call(app, 'POST', '/api/v1/admin/users', await tokenOf(app, admin), {
      username: name,
      password: PASSWORD,
      roles,
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  /** Polls until `path` stops answering 200 for `token`, for at most `ms`; the last status. */
  const statusAfter = async (app: ProcessApp, path: string, token: string, ms: number) => {
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < ms) {
      status = (await call(app, 'GET', path, token)).status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return status;
  };

  beforeAll(async () => {
    await ensureAdmin(admin, PASSWORD, { ...base, DATA_DIR: dir() });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    for (const path of dirs) rmSync(path, { recursive: true, force: true });
  });

  it('10. ends a demoted admin’s access on the other instance within 5 s', async () => {
    const env = {
      ...base,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `${process.env.REDIS_KEY_PREFIX ?? 'keyward-test:'}advmulti-${run}:`,
    };
    const [a, b] = await Promise.all([
      startProcessApp({ ...env, DATA_DIR: dir() }),
      startProcessApp({ ...env, DATA_DIR: dir() }),
    ]);
    apps.push(a, b);
    const name = `advmulti_demoted_${run}`;
    const id = await createUser(a, name, ['admin']);
    const token = await tokenOf(b, name);
    expect((await call(b, 'GET', '/api/v1/admin/users', token)).status).toBe(200);
    const demoted = await call(a, 'PATCH', `/api/v1/admin/users/${id}`, await tokenOf(a, admin), {
      roles: ['user'],
    });
    expect(demoted.status).toBe(200);
    expect(await statusAfter(b, '/api/v1/admin/users', token, 5000)).toBe(401);
    const repromote = await call(b, 'PATCH', `/api/v1/admin/users/${id}`, token, {
      roles: ['admin'],
    });
    expect(repromote.status).toBe(401);
  }, 90_000);

  it('14. holds a logout on the other instance within 5 s although the instances’ clocks differ by a minute (database clock, no Redis)', async () => {
    // No REDIS_URL: only the database poll carries revocations between these two.
    const slow = await startProcessApp({
      ...base,
      DATA_DIR: dir(),
      NODE_OPTIONS: `--import ${SKEWED_CLOCK}`,
      KEYWARD_TEST_CLOCK_OFFSET_MS: String(-60_000),
    });
    const right = await startProcessApp({ ...base, DATA_DIR: dir() });
    apps.push(slow, right);
    const name = `advmulti_skew_${run}`;
    await createUser(right, name, ['user']);
    // Signed in on the slow one (its iat is a minute old, which the right one accepts).
    const token = await tokenOf(slow, name);
    expect((await call(right, 'GET', '/api/v1/auth/me', token)).status).toBe(200);
    expect((await call(slow, 'POST', '/api/v1/auth/logout', token)).status).toBe(204);
    expect(await statusAfter(right, '/api/v1/auth/me', token, 5000)).toBe(401);
  }, 90_000);
});
