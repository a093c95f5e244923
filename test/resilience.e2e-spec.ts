import request from 'supertest';
import { type MockOpenAI, startMockOpenAI } from '../tools/mock-openai/mock-openai';
import { createUser, login } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

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
