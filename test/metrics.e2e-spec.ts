import request from 'supertest';
import { createUser, login } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

describe('GET /metrics', () => {
  let t: TestApp;
  const token = 'metrics-token-for-tests-0123456789';

  beforeAll(async () => {
    t = await createTestApp({ METRICS_TOKEN: token });
  });
  afterAll(() => t.close());

  it('serves Prometheus text to admins, with route templates as labels', async () => {
    const admin = (await login(t, await createUser(t, ['admin'], 'admin'))).access_token;
    await request(t.server).delete('/api/v1/keys/00000000-0000-4000-8000-000000000000').expect(401);
    const res = await request(t.server)
      .get('/metrics')
      .set('Authorization', `Bearer ${admin}`)
      .expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(
      /keyward_http_requests_total\{method="DELETE",route="\/api\/v1\/keys\/:id",status="401"\} 1/,
    );
    expect(res.text).toMatch(/^process_cpu_seconds_total /m);
    expect(res.text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(res.text).not.toContain('00000000-0000-4000-8000-000000000000');
  });

  it('accepts the METRICS_TOKEN and refuses a wrong one', async () => {
    await request(t.server).get('/metrics').set('Authorization', `Bearer ${token}`).expect(200);
    await request(t.server).get('/metrics').set('Authorization', `Bearer ${token}x`).expect(401);
    await request(t.server).get('/metrics').expect(401);
  });

  it('refuses non-admin users', async () => {
    const user = (await login(t, await createUser(t))).access_token;
    await request(t.server).get('/metrics').set('Authorization', `Bearer ${user}`).expect(403);
  });
});
