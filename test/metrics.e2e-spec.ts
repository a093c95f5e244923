import request from 'supertest';
import { MetricsService } from '../src/metrics/metrics.service';
import { type ChatHarness, type ChatUser, startChatHarness } from './support/chat-harness';
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

describe('Spend metrics', () => {
  let h: ChatHarness;
  let admin: ChatUser;

  beforeAll(async () => {
    h = await startChatHarness({ METRICS_MAX_TEAMS: '2' });
    admin = await h.newUser({ roles: ['admin'] });
  }, 30_000);
  afterAll(() => h.close(), 30_000);

  async function scrape(): Promise<string> {
    const res = await request(h.t.server)
      .get('/metrics')
      .set('Authorization', `Bearer ${admin.jwt}`)
      .expect(200);
    return res.text;
  }

  it('counts calls, tokens by kind, cost, upstream latency and time to first token', async () => {
    const user = await h.newUser();
    const client = h.client(user.apiKey);
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'count me [mock-cached:3] [mock-reasoning:7]' }],
    });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream me' }],
      stream: true,
    });
    for await (const chunk of stream) void chunk;
    const text = await scrape();
    const labels = 'model="gpt-4o-mini",team="none"';
    expect(text).toContain(`keyward_upstream_requests_total{${labels},status="200"} 2`);
    expect(text).toContain(`keyward_tokens_total{${labels},kind="cached"} 3`);
    expect(text).toContain(`keyward_tokens_total{${labels},kind="reasoning"} 7`);
    expect(text).toMatch(new RegExp(`keyward_tokens_total\\{${labels},kind="prompt"\\} \\d+`));
    expect(text).toMatch(new RegExp(`keyward_cost_usd_total\\{${labels}\\} 0\\.0000\\d+`));
    expect(text).toContain(`keyward_upstream_duration_seconds_count{${labels}} 2`);
    expect(text).toContain(`keyward_time_to_first_token_seconds_count{${labels}} 1`);
  });

  it('bounds the labels: unknown models and teams past METRICS_MAX_TEAMS are "other"', async () => {
    const metrics = h.t.app.get(MetricsService);
    for (const [model, teamId] of [
      ['gpt-4o', 'team-a'],
      ['gpt-4o', 'team-b'],
      ['gpt-4o', 'team-c'],
      ['some-new-model', 'team-a'],
    ]) {
      metrics.observeCall({
        model,
        teamId,
        status: '200',
        promptTokens: 1,
        cachedTokens: 0,
        completionTokens: 1,
        reasoningTokens: 0,
        costNanos: 0,
        upstreamMs: 5,
        ttftMs: null,
      });
    }
    const text = await scrape();
    expect(text).toContain(
      'keyward_upstream_requests_total{model="gpt-4o",team="team-a",status="200"} 1',
    );
    expect(text).toContain(
      'keyward_upstream_requests_total{model="gpt-4o",team="team-b",status="200"} 1',
    );
    expect(text).toContain(
      'keyward_upstream_requests_total{model="gpt-4o",team="other",status="200"} 1',
    );
    expect(text).toContain(
      'keyward_upstream_requests_total{model="other",team="team-a",status="200"} 1',
    );
    expect(text).not.toContain('team-c');
    expect(text).not.toContain('some-new-model');
  });
});
