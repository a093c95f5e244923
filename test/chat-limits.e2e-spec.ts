import OpenAI from 'openai';
import request from 'supertest';
import { AuditService } from '../src/audit/audit.service';
import { type ChatHarness, eventually, PASSWORD, startChatHarness } from './support/chat-harness';
import { createTestApp, type TestApp, uniqueName } from './support/test-app';
import { UsersService } from '../src/users/users.service';

const hi = [{ role: 'user' as const, content: 'hi' }];
/** promptTokenCeiling({messages: hi}): 3 priming + 4 framing + 2 bytes. */
const HI_CEILING = 9;

function apiError(error: unknown) {
  expect(error).toBeInstanceOf(OpenAI.APIError);
  return error as InstanceType<typeof OpenAI.APIError>;
}

describe('Chat limits, budgets and usage', () => {
  let h: ChatHarness;

  beforeAll(async () => {
    // Upstream answers take 300 ms, so concurrent requests really overlap.
    h = await startChatHarness({}, { latencyMs: 300 });
  }, 30_000);
  afterEach(() => h.mock.reset());
  afterAll(() => h.close(), 30_000);

  it('refuses requests over the per-user RPM with 429 and Retry-After, before any upstream call', async () => {
    const user = await h.newUser({ chatRpm: 2 });
    const client = h.client(user.apiKey);
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
    const error = apiError(
      await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: hi })
        .catch((e: unknown) => e),
    );
    expect(error.status).toBe(429);
    expect(error.code).toBe('rate_limit_exceeded');
    expect(error.param).toBe('user.rpm');
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(error.headers?.get('retry-after'))).toBeLessThanOrEqual(60);
    const ms = Number(error.headers?.get('retry-after-ms'));
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThanOrEqual(60_000);
    expect(error.headers?.get('x-should-retry')).toBeNull();
    expect(h.mock.requests).toHaveLength(2);
    const audit = h.t.app.get(AuditService);
    await eventually(async () =>
      (await audit.list({ limit: 50, event: 'quota.refused' })).some(
        (row) => row.subject === user.id,
      ),
    );
  });

  it('refuses a request whose prompt alone exceeds the daily budget, before any upstream call', async () => {
    const user = await h.newUser({ chatDailyTokens: 5 });
    const error = apiError(
      await h
        .client(user.apiKey)
        .chat.completions.create({ model: 'gpt-4o-mini', messages: hi })
        .catch((e: unknown) => e),
    );
    expect(error.status).toBe(429);
    expect(error.code).toBe('insufficient_quota');
    expect(error.type).toBe('insufficient_quota');
    expect(error.param).toBe('user.daily_tokens');
    expect(error.headers?.get('x-should-retry')).toBe('false');
    const retryAfter = Number(error.headers?.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(h.mock.requests).toHaveLength(0);
  });

  it('clamps max_tokens to the remaining budget, then refuses once it is spent', async () => {
    const user = await h.newUser({ chatDailyTokens: 50 });
    const client = h.client(user.apiKey);
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi, max_tokens: 1000 });
    const body = h.mock.requests[0].body as Record<string, unknown>;
    expect(body.max_tokens).toBe(50 - HI_CEILING);
    expect(body).not.toHaveProperty('max_completion_tokens');
    // Mock usage: prompt 5, completion 5 ("Mock reply to: hi") → 40 left, then 30, ...
    for (let i = 0; i < 3; i += 1)
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
    const after = h.mock.requests.map(
      (r) => r.body as { max_completion_tokens?: number; max_tokens?: number },
    );
    expect(after.slice(1).map((b) => b.max_completion_tokens)).toEqual([
      40 - HI_CEILING,
      30 - HI_CEILING,
      20 - HI_CEILING,
    ]);
    // 10 tokens left: the prompt ceiling (9) plus one completion token still fit; then nothing does.
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
    const error = apiError(
      await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: hi })
        .catch((e: unknown) => e),
    );
    expect(error.code).toBe('insufficient_quota');
    expect(h.mock.requests).toHaveLength(5);
  });

  it('never lets concurrent requests reserve more than the budget', async () => {
    const user = await h.newUser({ chatDailyTokens: 1000, chatRpm: 100 });
    const client = h.client(user.apiKey);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi, max_tokens: 300 }),
      ),
    );
    const admitted = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected').map((r) => apiError(r.reason));
    // Held by requests in flight: worth a retry soon (rate_limit_exceeded), never a 5xx.
    expect(
      refused.every(
        (e) =>
          e.status === 429 &&
          e.param === 'user.daily_tokens' &&
          ['rate_limit_exceeded', 'insufficient_quota'].includes(String(e.code)),
      ),
    ).toBe(true);
    // Worst case of everything sent upstream: what each request could have cost at most.
    const worstCase = h.mock.requests
      .map((r) => (r.body as { max_tokens: number }).max_tokens + HI_CEILING)
      .reduce((a, b) => a + b, 0);
    expect(h.mock.requests).toHaveLength(admitted.length);
    expect(admitted.length).toBe(4); // 3 × (9 + 300) + (9 + 64) = 1000
    expect(worstCase).toBeLessThanOrEqual(1000);
    const usage = await request(h.t.server)
      .get('/api/v1/usage')
      .set('Authorization', `Bearer ${user.apiKey}`)
      .expect(200);
    expect(usage.body.totals.totalTokens).toBeLessThanOrEqual(1000);
    expect(usage.body.totals.requests).toBe(4);
  });

  describe('usage reports', () => {
    it('shows own usage by day and model with the current limits', async () => {
      const user = await h.newUser({ chatDailyTokens: 12345 });
      const client = h.client(user.apiKey);
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
      await client.chat.completions.create({ model: 'gpt-4o', messages: hi });
      await client.chat.completions.create({ model: 'gpt-4o', messages: hi });
      const res = await request(h.t.server)
        .get('/api/v1/usage?days=1')
        .set('Authorization', `Bearer ${user.apiKey}`)
        .expect(200);
      const today = new Date().toISOString().slice(0, 10);
      expect(res.body).toMatchObject({ since: today, until: today });
      expect(res.body.items).toEqual([
        {
          day: today,
          model: 'gpt-4o',
          promptTokens: 10,
          cachedTokens: 0,
          completionTokens: 10,
          reasoningTokens: 0,
          totalTokens: 20,
          requests: 2,
          // gpt-4o: $2.50 / $10 per 1M tokens (docs/pricing.md).
          costUsd: (10 * 2500 + 10 * 10_000) / 1e9,
        },
        {
          day: today,
          model: 'gpt-4o-mini',
          promptTokens: 5,
          cachedTokens: 0,
          completionTokens: 5,
          reasoningTokens: 0,
          totalTokens: 10,
          requests: 1,
          costUsd: (5 * 150 + 5 * 600) / 1e9,
        },
      ]);
      expect(res.body.totals).toEqual({
        promptTokens: 15,
        cachedTokens: 0,
        completionTokens: 15,
        reasoningTokens: 0,
        totalTokens: 30,
        requests: 3,
        costUsd: (10 * 2500 + 10 * 10_000 + 5 * 150 + 5 * 600) / 1e9,
      });
      expect(res.body.limits).toEqual({ requestsPerMinute: 60, dailyTokens: 12345, usedToday: 30 });
    });

    it('needs the usage scope and refuses bad queries', async () => {
      const user = await h.newUser();
      const chatOnly = await request(h.t.server)
        .post('/api/v1/keys')
        .set('Authorization', `Bearer ${user.jwt}`)
        .send({ name: 'chat-only', scopes: ['chat'] })
        .expect(201);
      await request(h.t.server)
        .get('/api/v1/usage')
        .set('Authorization', `Bearer ${chatOnly.body.key}`)
        .expect(403);
      await request(h.t.server)
        .get('/api/v1/usage?days=0')
        .set('Authorization', `Bearer ${user.jwt}`)
        .expect(400);
      await request(h.t.server)
        .get('/api/v1/usage?bogus=1')
        .set('Authorization', `Bearer ${user.jwt}`)
        .expect(400);
      await request(h.t.server).get('/api/v1/usage').expect(401);
    });

    it('lets admins see everyone or one user, and nobody else', async () => {
      const user = await h.newUser();
      await h.client(user.apiKey).chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
      const admin = await h.newUser({ roles: ['admin'] });
      const all = await request(h.t.server)
        .get('/api/v1/admin/usage')
        .set('Authorization', `Bearer ${admin.jwt}`)
        .expect(200);
      const users = new Set((all.body.items as { userId: string }[]).map((item) => item.userId));
      expect(users.has(user.id)).toBe(true);
      expect(users.size).toBeGreaterThan(1);
      const one = await request(h.t.server)
        .get(`/api/v1/admin/usage?userId=${user.id}`)
        .set('Authorization', `Bearer ${admin.jwt}`)
        .expect(200);
      expect(one.body.items).toEqual([
        expect.objectContaining({ userId: user.id, model: 'gpt-4o-mini', requests: 1 }),
      ]);
      await request(h.t.server)
        .get('/api/v1/admin/usage')
        .set('Authorization', `Bearer ${user.jwt}`)
        .expect(403);
    });
  });
});

describe('Chat without an OpenAI key', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({});
  }, 30_000);
  afterAll(() => t.close(), 30_000);

  it('answers 503 service_unavailable with a clear message, in OpenAI format on /v1', async () => {
    const username = uniqueName('nokey');
    await t.app.get(UsersService).create({ username, password: PASSWORD, roles: ['user'] });
    const token = await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username, password: PASSWORD })
      .expect(200);
    const res = await request(t.server)
      .post('/v1/chat/completions')
      .set('Authorization', `Bearer ${token.body.access_token}`)
      .send({ model: 'gpt-4o-mini', messages: hi })
      .expect(503);
    expect(res.body.error).toMatchObject({ code: 'service_unavailable', type: 'api_error' });
    expect(res.body.error.message).toMatch(/OPENAI_API_KEY/);
    const simple = await request(t.server)
      .post('/api/v1/chat')
      .set('Authorization', `Bearer ${token.body.access_token}`)
      .send({ messages: hi })
      .expect(503);
    expect(simple.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
