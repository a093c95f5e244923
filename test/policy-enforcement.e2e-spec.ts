import OpenAI from 'openai';
import request from 'supertest';
import { type ChatHarness, type ChatUser, startChatHarness } from './support/chat-harness';

const hi = [{ role: 'user' as const, content: 'hi' }];
/** promptTokenCeiling({messages: hi}): what every `hi` call reserves for its prompt. */
const HI_CEILING = 9;
/** The mock bills `hi` as 5 prompt tokens and its reply "Mock reply to: hi" as 5. */
const HI_PROMPT = 5;
const HI_REPLY = 5;
/** gpt-4o-mini in nano-USD per token: input 0.15, output 0.6 USD per 1M tokens. */
const MINI_IN = 150;
const MINI_OUT = 600;

function apiError(error: unknown) {
  expect(error).toBeInstanceOf(OpenAI.APIError);
  return error as InstanceType<typeof OpenAI.APIError>;
}

describe('Policy enforcement: key, team and user limits on every call', () => {
  let h: ChatHarness;
  let admin: ChatUser;

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  const chat = (key: string, model = 'gpt-4o-mini') =>
    h.client(key).chat.completions.create({ model, messages: hi });
  const refusal = async (key: string, model = 'gpt-4o-mini') =>
    apiError(await chat(key, model).catch((e: unknown) => e));

  async function newKey(owner: ChatUser, body: object): Promise<{ id: string; key: string }> {
    const res = await request(h.t.server)
      .post('/api/v1/keys')
      .set(bearer(owner.jwt))
      .send({ name: 'policy', ...body })
      .expect(201);
    return res.body as { id: string; key: string };
  }

  async function newTeam(body: object): Promise<string> {
    const res = await request(h.t.server)
      .post('/api/v1/admin/teams')
      .set(bearer(admin.jwt))
      .send({ name: `team-${Date.now()}-${Math.random()}`, ...body })
      .expect(201);
    return (res.body as { id: string }).id;
  }

  /** Makes `member` a team_admin of `team`, so they may create the team's keys. */
  async function joinTeam(team: string, member: ChatUser): Promise<void> {
    await request(h.t.server)
      .put(`/api/v1/teams/${team}/members/${member.id}`)
      .set(bearer(admin.jwt))
      .send({ role: 'team_admin' })
      .expect(200);
  }

  async function keySpend(owner: ChatUser, id: string) {
    const res = await request(h.t.server).get('/api/v1/keys').set(bearer(owner.jwt)).expect(200);
    return (res.body as Array<{ id: string; spend: object; lastUsedAt: string | null }>).find(
      (k) => k.id === id,
    )!;
  }

  beforeAll(async () => {
    h = await startChatHarness({
      CHAT_MODELS: 'gpt-4o-mini,gpt-4o,house-model',
      EMBEDDING_MODELS: 'text-embedding-3-small,house-embedding',
    });
    admin = await h.newUser({ roles: ['admin'] });
  }, 30_000);
  afterEach(() => h.mock.reset());
  afterAll(() => h.close(), 30_000);

  it("refuses a model outside the key's allowlist with 400 model_not_found, before any upstream call", async () => {
    const user = await h.newUser();
    const { key } = await newKey(user, { models: ['gpt-4o-mini'] });
    await chat(key);
    const error = await refusal(key, 'gpt-4o');
    expect(error.status).toBe(400);
    expect(error.code).toBe('model_not_found');
    expect(error.param).toBe('model');
    expect(error.message).toMatch(/not allowed for this API key/);
    expect(h.mock.requests).toHaveLength(1);
  });

  it('applies the key policy on every model route: Responses, embeddings and /api/v1/chat', async () => {
    const user = await h.newUser();
    const { key } = await newKey(user, { models: ['gpt-4o-mini'] });
    const client = h.client(key);
    const responses = apiError(
      await client.responses.create({ model: 'gpt-4o', input: 'hi' }).catch((e: unknown) => e),
    );
    expect(responses.status).toBe(400);
    expect(responses.code).toBe('model_not_found');
    const embeddings = apiError(
      await client.embeddings
        .create({ model: 'text-embedding-3-small', input: 'hi' })
        .catch((e: unknown) => e),
    );
    expect(embeddings.status).toBe(400);
    expect(embeddings.code).toBe('model_not_found');
    const simple = await request(h.t.server)
      .post('/api/v1/chat')
      .set(bearer(key))
      .send({ model: 'gpt-4o', messages: hi })
      .expect(400);
    expect(simple.body.detail).toMatch(/not allowed for this API key/);
    expect(h.mock.requests).toHaveLength(0);
    await client.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
    // A key's token budget counts every route together.
    const small = await newKey(user, { dailyTokens: 30 });
    await h.client(small.key).embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
    await chat(small.key);
    const spend = (await keySpend(user, small.id)).spend as { todayTokens: number };
    expect(spend.todayTokens).toBeGreaterThan(HI_PROMPT + HI_REPLY);
  });

  it("refuses a model outside the team's allowlist for the team's keys only", async () => {
    const team = await newTeam({ models: ['gpt-4o'] });
    await joinTeam(team, admin);
    const { key } = await newKey(admin, { teamId: team });
    const error = await refusal(key, 'gpt-4o-mini');
    expect(error.status).toBe(400);
    expect(error.code).toBe('model_not_found');
    expect(error.message).toMatch(/not allowed for this team/);
    await chat(key, 'gpt-4o');
    // The same user's personal key is not the team's: no team allowlist.
    await chat(admin.apiKey, 'gpt-4o-mini');
  });

  it('lists only the models a credential may call (GET /v1/models through the openai SDK)', async () => {
    const list = async (key: string) => {
      const ids: string[] = [];
      for await (const model of h.client(key).models.list()) ids.push(model.id);
      return ids;
    };
    const user = await h.newUser();
    // No policy of its own, and a sign-in: every model the server offers, chat's then
    // embeddings', as OpenAI lists every model a key may use.
    const all = [
      'gpt-4o-mini',
      'gpt-4o',
      'house-model',
      'text-embedding-3-small',
      'house-embedding',
    ];
    expect(await list(user.apiKey)).toEqual(all);
    expect(await list(user.jwt)).toEqual(all);
    await expect(
      h.client(user.apiKey).models.retrieve('text-embedding-3-small'),
    ).resolves.toMatchObject({ id: 'text-embedding-3-small', object: 'model' });
    // The key's allowlist, in the server's order; retrieving any other model is a 404.
    const narrow = await newKey(user, { models: ['gpt-4o', 'gpt-4o-mini', 'not-offered'] });
    expect(await list(narrow.key)).toEqual(['gpt-4o-mini', 'gpt-4o']);
    const mini = await newKey(user, { models: ['gpt-4o-mini'] });
    expect(await list(mini.key)).toEqual(['gpt-4o-mini']);
    await expect(h.client(mini.key).models.retrieve('gpt-4o-mini')).resolves.toMatchObject({
      id: 'gpt-4o-mini',
    });
    const hidden = apiError(
      await h
        .client(mini.key)
        .models.retrieve('gpt-4o')
        .catch((e: unknown) => e),
    );
    expect(hidden).toBeInstanceOf(OpenAI.NotFoundError);
    expect(hidden.code).toBe('model_not_found');
    // A changed allowlist applies at once (the key's cached policy is dropped), here and on chat.
    await request(h.t.server)
      .patch(`/api/v1/keys/${mini.id}`)
      .set(bearer(user.jwt))
      .send({ models: ['gpt-4o'] })
      .expect(200);
    expect(await list(mini.key)).toEqual(['gpt-4o']);
    expect((await refusal(mini.key, 'gpt-4o-mini')).code).toBe('model_not_found');
    // A USD budget can only count priced models: the unpriced ones are not offered.
    const usd = await newKey(user, { dailyUsd: 5 });
    expect(await list(usd.key)).toEqual(['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small']);
    // An embedding model in a key's allowlist is listed like a chat model; the others are 404.
    const embed = await newKey(user, { models: ['text-embedding-3-small'] });
    expect(await list(embed.key)).toEqual(['text-embedding-3-small']);
    expect(
      apiError(
        await h
          .client(mini.key)
          .models.retrieve('text-embedding-3-small')
          .catch((e: unknown) => e),
      ).code,
    ).toBe('model_not_found');
    // A team key: the team's allowlist and the key's, intersected.
    const team = await newTeam({ models: ['gpt-4o', 'house-model'] });
    await joinTeam(team, admin);
    expect(await list((await newKey(admin, { teamId: team })).key)).toEqual([
      'gpt-4o',
      'house-model',
    ]);
    const both = await newKey(admin, { teamId: team, models: ['gpt-4o-mini', 'gpt-4o'] });
    expect(await list(both.key)).toEqual(['gpt-4o']);
    // The same member's personal key is not the team's.
    expect(await list(admin.apiKey)).toEqual(all);
    expect(h.mock.requests).toHaveLength(0);
  });

  it('refuses the second call of a key whose daily USD budget the first used up (429 insufficient_quota, key.daily_usd)', async () => {
    const user = await h.newUser();
    // 5000 nano-USD: the first call fits (prompt ceiling 9 × 150 + 6 completion tokens × 600)
    // and costs 5 × 150 + 5 × 600 = 3750, which leaves too little for another prompt.
    const created = await newKey(user, { dailyUsd: 0.000005 });
    await chat(created.key);
    // The completion cap sent upstream is what the USD budget allows.
    const sent = h.mock.requests[0].body as { max_tokens?: number; max_completion_tokens?: number };
    expect(sent.max_completion_tokens ?? sent.max_tokens).toBe(
      Math.floor((5000 - HI_CEILING * MINI_IN) / MINI_OUT),
    );
    const error = await refusal(created.key);
    expect(error.status).toBe(429);
    expect(error.code).toBe('insufficient_quota');
    expect(error.param).toBe('key.daily_usd');
    expect(h.mock.requests).toHaveLength(1);
    // The owner sees the spend from the same counters, exact to the nano-USD.
    const listed = await keySpend(user, created.id);
    expect(listed.spend).toEqual({
      todayTokens: HI_PROMPT + HI_REPLY,
      monthTokens: HI_PROMPT + HI_REPLY,
      todayUsd: (HI_PROMPT * MINI_IN + HI_REPLY * MINI_OUT) / 1e9,
      monthUsd: (HI_PROMPT * MINI_IN + HI_REPLY * MINI_OUT) / 1e9,
    });
    expect(listed.lastUsedAt).not.toBeNull();
  });

  it("refuses a call whose prompt alone costs more than the team's monthly USD budget (team.monthly_usd)", async () => {
    const team = await newTeam({ monthlyUsd: 0.000001 }); // 1000 nano-USD < 9 × 150
    await joinTeam(team, admin);
    const { key } = await newKey(admin, { teamId: team });
    const error = await refusal(key);
    expect(error.status).toBe(429);
    expect(error.code).toBe('insufficient_quota');
    expect(error.param).toBe('team.monthly_usd');
    expect(error.message).toMatch(/1st of next month/);
    expect(h.mock.requests).toHaveLength(0);
  });

  it('refuses an unpriced model for a USD-budgeted key with 400 before the call; a token-only key may call it', async () => {
    const user = await h.newUser();
    const usd = await newKey(user, { monthlyUsd: 10 });
    const error = await refusal(usd.key, 'house-model');
    expect(error.status).toBe(400);
    expect(error.param).toBe('model');
    expect(error.code).toBe('model_not_priced');
    expect(h.mock.requests).toHaveLength(0);
    const tokens = await newKey(user, { dailyTokens: 1000 });
    await chat(tokens.key, 'house-model');
  });

  it("caps a team key by the team's daily tokens (team.daily_tokens), whichever member's key", async () => {
    const team = await newTeam({ dailyTokens: 25 });
    const [a, b] = [await h.newUser(), await h.newUser()];
    for (const member of [a, b]) {
      await joinTeam(team, member);
    }
    const keyA = await newKey(a, { teamId: team });
    const keyB = await newKey(b, { teamId: team });
    await chat(keyA.key); // 10 tokens
    await chat(keyB.key); // 10 tokens: 20 of 25, 5 left, less than a prompt
    const error = await refusal(keyA.key);
    expect(error.status).toBe(429);
    expect(error.code).toBe('insufficient_quota');
    expect(error.param).toBe('team.daily_tokens');
    expect(error.message).toMatch(/team's daily token budget \(25\)/);
    // Personal keys of the members are not the team's.
    await chat(a.apiKey);
  });

  it('names the tightest limit among key, team and user', async () => {
    // User: 12 tokens a day; key and team roomy → user.daily_tokens.
    const poor = await h.newUser({ chatDailyTokens: 12 });
    const roomy = await newKey(poor, { dailyTokens: 100_000 });
    await chat(roomy.key);
    expect((await refusal(roomy.key)).param).toBe('user.daily_tokens');

    // Key: 12; team and user roomy → key.daily_tokens.
    const team = await newTeam({ dailyTokens: 100_000 });
    const rich = await h.newUser({ chatDailyTokens: 100_000 });
    await joinTeam(team, rich);
    const tightKey = await newKey(rich, { teamId: team, dailyTokens: 12 });
    await chat(tightKey.key);
    expect((await refusal(tightKey.key)).param).toBe('key.daily_tokens');

    // Team: 12; key and user roomy → team.daily_tokens.
    const tightTeam = await newTeam({ dailyTokens: 12 });
    await joinTeam(tightTeam, rich);
    const teamKey = await newKey(rich, { teamId: tightTeam, dailyTokens: 100_000 });
    await chat(teamKey.key);
    expect((await refusal(teamKey.key)).param).toBe('team.daily_tokens');

    // Rates: the key allows 1 a minute, the team and user more → key.rpm.
    const rpmTeam = await newTeam({ rpm: 5 });
    await joinTeam(rpmTeam, rich);
    const slow = await newKey(rich, { teamId: rpmTeam, rpm: 1 });
    await chat(slow.key);
    const rpm = await refusal(slow.key);
    expect(rpm.status).toBe(429);
    expect(rpm.code).toBe('rate_limit_exceeded');
    expect(rpm.param).toBe('key.rpm');
    // Another key of the team: the team's 5 a minute counts every key's calls.
    const other = await newKey(rich, { teamId: rpmTeam });
    await chat(other.key);
    await chat(other.key);
    await chat(other.key);
    expect((await refusal(other.key)).param).toBe('team.rpm');
  });

  it('never lets 50 parallel calls spend more than a key budget of N tokens', async () => {
    const user = await h.newUser();
    const budget = 200;
    const created = await newKey(user, { dailyTokens: budget });
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => chat(created.key)));
    const granted = results.filter((r) => r.status === 'fulfilled').length;
    expect(granted).toBeGreaterThan(0);
    expect(granted).toBeLessThan(50);
    for (const r of results) {
      if (r.status === 'rejected') expect(apiError(r.reason).param).toBe('key.daily_tokens');
    }
    expect(h.mock.requests).toHaveLength(granted);
    const spend = (await keySpend(user, created.id)).spend as { todayTokens: number };
    expect(spend.todayTokens).toBeLessThanOrEqual(budget);
    // Nothing but what the granted calls used: at most a `hi` and its reply each.
    expect(spend.todayTokens).toBeLessThanOrEqual(granted * (HI_PROMPT + HI_REPLY));
    expect(spend.todayTokens).toBeGreaterThanOrEqual(granted * HI_PROMPT);
  });

  it('refuses a key from outside its address ranges with 403 on /v1, and accepts it from inside', async () => {
    const user = await h.newUser();
    const outside = await newKey(user, { allowedCidrs: ['192.0.2.0/24'] });
    const error = await refusal(outside.key);
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/not allowed from your address/);
    const inside = await newKey(user, { allowedCidrs: ['127.0.0.0/8', '::1/128'] });
    await chat(inside.key);
    expect(h.mock.requests).toHaveLength(1);
  });

  it('refuses a disabled or revoked key at once, on /v1 too', async () => {
    const user = await h.newUser();
    const created = await newKey(user, {});
    await chat(created.key);
    await request(h.t.server)
      .patch(`/api/v1/admin/keys/${created.id}`)
      .set(bearer(admin.jwt))
      .send({ disabled: true })
      .expect(200);
    expect((await refusal(created.key)).status).toBe(401);
    await request(h.t.server)
      .patch(`/api/v1/admin/keys/${created.id}`)
      .set(bearer(admin.jwt))
      .send({ disabled: false })
      .expect(200);
    await chat(created.key);
    await request(h.t.server)
      .delete(`/api/v1/admin/keys/${created.id}`)
      .set(bearer(admin.jwt))
      .expect(204);
    expect((await refusal(created.key)).status).toBe(401);
  });
});
