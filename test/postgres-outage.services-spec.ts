import request from 'supertest';
import { createUser, login } from './support/auth-helpers';
import { eventually, Outage } from './support/outage';
import { createTestApp, type TestApp } from './support/test-app';

// The `services` Jest project (npm run test:services) runs this only with DATABASE_URL set.
const databaseUrl = process.env.DATABASE_URL!;

describe('PostgreSQL outage and recovery', () => {
  let t: TestApp;
  let outage: Outage;
  let access: string;

  beforeAll(async () => {
    const url = new URL(databaseUrl);
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
