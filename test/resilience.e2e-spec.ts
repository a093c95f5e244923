import { createServer, type Server, type Socket, connect } from 'node:net';
import request from 'supertest';
import { type MockOpenAI, startMockOpenAI } from '../tools/mock-openai/mock-openai';
import { createUser, login } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

/** A TCP pass-through we can cut and restore, standing in for a database or Redis outage. */
class Outage {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  constructor(
    private readonly target: { host: string; port: number },
    readonly port: number,
  ) {}

  static async create(target: { host: string; port: number }): Promise<Outage> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const outage = new Outage(target, port);
    await outage.restore();
    return outage;
  }

  async restore(): Promise<void> {
    if (this.server?.listening) return;
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      this.sockets.add(client).add(upstream);
      for (const socket of [client, upstream])
        socket.on('close', () => this.sockets.delete(socket)).on('error', () => undefined);
      client.pipe(upstream).pipe(client);
    });
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  async cut(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

async function eventually(check: () => Promise<boolean>, ms = 8000): Promise<boolean> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

describe('Redis unreachable', () => {
  let t: TestApp;
  let mock: MockOpenAI;
  beforeAll(async () => {
    mock = await startMockOpenAI();
    // A closed port: every Redis command fails at once.
    t = await createTestApp({
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_KEY_PREFIX: 'resilience:',
      OPENAI_API_KEY: 'sk-mock-keyward',
      OPENAI_BASE_URL: mock.url,
    });
  });
  afterAll(async () => {
    await t.close();
    await mock.close();
  });

  it('refuses chat with 503 rather than spend tokens without the shared budget', async () => {
    const tokens = await login(t, await createUser(t));
    const res = await request(t.server)
      .post('/v1/chat/completions')
      .set('Authorization', `Bearer ${tokens.access_token}`)
      .send({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .expect(503);
    expect(res.body.error).toMatchObject({ type: 'api_error', code: 'service_unavailable' });
    expect(mock.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(0);
  });

  it('reports not ready (503) naming Redis', async () => {
    const res = await request(t.server).get('/health/ready').expect(503);
    expect(res.body).toMatchObject({ status: 503, checks: { database: 'up', redis: 'down' } });
    expect(res.headers['retry-after']).toBeDefined();
    expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1:1/);
  });

  it('keeps authentication working on in-process counters, and says so in the log', async () => {
    const user = await createUser(t);
    const tokens = await login(t, user);
    await request(t.server)
      .get('/api/v1/auth/me')
      .set('Authorization', `Bearer ${tokens.access_token}`)
      .expect(200);
    await request(t.server)
      .post('/api/v1/auth/logout')
      .set('Authorization', `Bearer ${tokens.access_token}`)
      .expect(204);
    await request(t.server)
      .get('/api/v1/auth/me')
      .set('Authorization', `Bearer ${tokens.access_token}`)
      .expect(401);
    expect(t.logs.some((line) => line.includes('Redis unavailable'))).toBe(true);
  });
});

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  process.stdout.write(
    'PostgreSQL outage suite runs in `npm run test:services` (DATABASE_URL unset here)\n',
  );
}
(databaseUrl ? describe : describe.skip)('PostgreSQL outage and recovery', () => {
  let t: TestApp;
  let outage: Outage;
  let access: string;

  beforeAll(async () => {
    const url = new URL(databaseUrl!);
    outage = await Outage.create({ host: url.hostname, port: Number(url.port || 5432) });
    url.hostname = '127.0.0.1';
    url.port = String(outage.port);
    t = await createTestApp({ DATABASE_URL: url.toString() });
    access = (await login(t, await createUser(t))).access_token;
  });
  afterAll(async () => {
    await outage.restore();
    await t.close();
    await outage.cut();
  });

  it('answers 503 (never 500) while the database is down and recovers without a restart', async () => {
    await request(t.server).get('/health/ready').expect(200);
    await outage.cut();
    expect(
      await eventually(async () => (await request(t.server).get('/health/ready')).status === 503),
    ).toBe(true);
    const keys = await request(t.server)
      .get('/api/v1/keys')
      .set('Authorization', `Bearer ${access}`);
    expect(keys.status).toBe(503);
    expect(keys.body.type).toBe('urn:keyward:problem:service_unavailable');
    // Verifying a JWT needs no database: already signed-in users keep reading.
    await request(t.server)
      .get('/api/v1/auth/me')
      .set('Authorization', `Bearer ${access}`)
      .expect(200);
    await outage.restore();
    expect(
      await eventually(async () => (await request(t.server).get('/health/ready')).status === 200),
    ).toBe(true);
    expect(
      await eventually(
        async () =>
          (await request(t.server).get('/api/v1/keys').set('Authorization', `Bearer ${access}`))
            .status === 200,
      ),
    ).toBe(true);
  }, 40_000);
});
