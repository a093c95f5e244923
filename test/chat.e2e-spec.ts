import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import request from 'supertest';
import { upstreamUserId } from '../src/chat/upstream-user';
import {
  type ChatHarness,
  type ChatUser,
  collect,
  eventually,
  MOCK_KEY,
  startChatHarness,
  streamedText,
} from './support/chat-harness';

const SERVER_TIMING =
  /^keyward;desc="[^"]+";dur=\d+(\.\d+)?, upstream;desc="[^"]+";dur=\d+(\.\d+)?$/;
const hello = [{ role: 'user' as const, content: 'Say hello to the lighthouse keeper' }];

describe('Chat (OpenAI-compatible, through the openai SDK)', () => {
  let h: ChatHarness;
  let alice: ChatUser;
  let client: OpenAI;

  beforeAll(async () => {
    h = await startChatHarness({ CHAT_MAX_MESSAGES: '5', CHAT_MAX_INPUT_CHARS: '2000' });
    alice = await h.newUser();
    client = h.client(alice.apiKey);
  }, 30_000);
  afterEach(() => h.mock.reset());
  afterAll(() => h.close(), 30_000);

  const upstreamChats = () => h.mock.requests.filter((r) => r.path === '/v1/chat/completions');

  it('lists CHAT_MODELS then EMBEDDING_MODELS in OpenAI list format', async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model);
    expect(models.map((m) => m.id)).toEqual(['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small']);
    expect(models[0]).toMatchObject({ object: 'model', owned_by: 'keyward', kind: 'chat' });
    expect(models[2]).toMatchObject({ object: 'model', kind: 'embedding' });
    expect(h.mock.requests).toHaveLength(0);
    const { response } = await client.models.list().withResponse();
    // No upstream call: all of it is Keyward's time.
    expect(response.headers.get('server-timing')).toMatch(/upstream;desc="OpenAI";dur=0$/);
  });

  it('retrieves an allowed model, and answers any other id with OpenAI’s 404 model_not_found', async () => {
    await expect(client.models.retrieve('gpt-4o')).resolves.toEqual({
      id: 'gpt-4o',
      object: 'model',
      created: 0,
      owned_by: 'keyward',
      kind: 'chat',
    });
    // gpt-4.1-mini exists upstream, but not in CHAT_MODELS.
    for (const id of [
      'gpt-4.1-mini',
      'no-such-model',
      '..%2F..%2Fadmin',
      '../../api/v1/admin/users',
      'a\u0000b',
      'x'.repeat(100),
    ]) {
      const error = await client.models.retrieve(id).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect(error).toMatchObject({
        status: 404,
        code: 'model_not_found',
        type: 'invalid_request_error',
        param: 'model',
      });
    }
    // Past Fastify's path-parameter limit: refused before routing, still a clear 4xx.
    const long = await client.models.retrieve('x'.repeat(2000)).catch((e: unknown) => e);
    expect(long).toMatchObject({ status: 400 });
    expect(h.mock.requests).toHaveLength(0);
    const anonymous = await fetch(`${h.baseURL}/models/gpt-4o`);
    expect(anonymous.status).toBe(401);
  });

  it('answers a completion with the server key, a hashed user and a capped max_tokens upstream', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: hello, user: 'client-chosen-user' })
      .withResponse();
    expect(data.choices[0].message.content).toBe(
      'Mock reply to: Say hello to the lighthouse keeper',
    );
    expect(data.model).toBe('gpt-4o');
    expect(data.usage).toMatchObject({
      prompt_tokens: 13,
      completion_tokens: 13,
      total_tokens: 26,
    });
    expect(response.headers.get('server-timing')).toMatch(SERVER_TIMING);
    // Upstream time is network time, stamped in the upstream fetch around the mock's answer.
    const upstreamMs = Number(
      /upstream;[^,]*dur=([\d.]+)/.exec(response.headers.get('server-timing') ?? '')?.[1],
    );
    expect(upstreamMs).toBeGreaterThan(0);

    const [upstream] = upstreamChats();
    expect(upstream.headers.authorization).toBe(`Bearer ${MOCK_KEY}`);
    const body = upstream.body as Record<string, unknown>;
    expect(body.user).toBe(upstreamUserId(alice.id));
    expect(body.user).toMatch(/^[0-9a-f]{64}$/);
    expect(body.max_completion_tokens).toBe(16_384);
    expect(body).not.toHaveProperty('stream_options');
  });

  it('forwards no client header, organisation or project upstream', async () => {
    const nosy = h.client(alice.apiKey, {
      organization: 'org-client-chosen',
      project: 'proj-client-chosen',
      defaultHeaders: { 'X-Custom-Leak': 'client-value', 'X-Forwarded-Host': 'evil.example' },
    });
    await nosy.chat.completions.create({ model: 'gpt-4o-mini', messages: hello });
    const [upstream] = upstreamChats();
    const names = Object.keys(upstream.headers);
    expect(names).not.toContain('openai-organization');
    expect(names).not.toContain('openai-project');
    expect(names).not.toContain('x-custom-leak');
    expect(names).not.toContain('x-forwarded-host');
    expect(JSON.stringify(upstream.headers)).not.toContain('client-value');
    expect(JSON.stringify(upstream.headers)).not.toContain(alice.apiKey);
  });

  it('streams chunk by chunk and strips the usage it requested when the client did not ask', async () => {
    const chunks = await collect(
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hello, stream: true }),
    );
    expect(streamedText(chunks)).toBe('Mock reply to: Say hello to the lighthouse keeper');
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.some((chunk) => 'usage' in chunk)).toBe(false);
    const body = upstreamChats()[0].body as Record<string, unknown>;
    expect(body.stream_options).toEqual({ include_usage: true });
  });

  it('passes the usage chunk on when the client asks for it', async () => {
    const chunks = await collect(
      await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: hello,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const last = chunks[chunks.length - 1];
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({
      prompt_tokens: 13,
      completion_tokens: 13,
      total_tokens: 26,
    });
  });

  it('sends SSE headers with Server-Timing and ends the raw stream with data: [DONE]', async () => {
    const res = await fetch(`${h.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: hello, stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(res.headers.get('server-timing')).toMatch(SERVER_TIMING);
    const raw = await res.text();
    expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(raw).not.toContain('"usage"');
  });

  it('refuses a model outside CHAT_MODELS with an OpenAI BadRequestError', async () => {
    const error = await client.chat.completions
      .create({ model: 'gpt-4.1-mini', messages: hello })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('model');
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('model_not_found');
    expect(h.mock.requests).toHaveLength(0);
  });

  it.each([
    ['an unknown field', { foo: 1 }, 'foo'],
    ['n other than 1', { n: 2 }, 'n'],
    [
      'a message field outside the allowlist',
      { messages: [{ role: 'user', content: 'x', audio: {} }] },
      'messages[0].audio',
    ],
    [
      'a content part type outside the allowlist',
      { messages: [{ role: 'user', content: [{ type: 'video_url', video_url: {} }] }] },
      'messages[0].content[0].type',
    ],
    ['a service tier that costs more', { service_tier: 'priority' }, 'service_tier'],
    [
      'a file id (files are not hosted here)',
      { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] },
      'messages[0].content[0].file.file_id',
    ],
  ])('refuses %s with 400 naming the param', async (_name, extra, param) => {
    const body = {
      model: 'gpt-4o-mini',
      messages: hello,
      ...extra,
    } as unknown as ChatCompletionCreateParamsNonStreaming;
    const error = await client.chat.completions.create(body).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(param);
    expect(
      (error as InstanceType<typeof OpenAI.BadRequestError>).headers?.get('server-timing'),
    ).toMatch(SERVER_TIMING);
    expect(h.mock.requests).toHaveLength(0);
  });

  it('accepts the fields SDKs send, relays them, and keeps the cost fields its own', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'hi' }], name: 'alice' },
      ],
      reasoning_effort: 'low',
      parallel_tool_calls: true,
      metadata: { feature: 'tests' },
      store: true,
      service_tier: 'auto',
      prompt_cache_key: 'tests-1',
      verbosity: 'low',
      safety_identifier: 'client-chosen',
      n: 1,
      max_completion_tokens: 50,
      stop: null,
      temperature: null,
    });
    expect(completion.choices[0].message.content).toBe('Mock reply to: hi');
    const body = upstreamChats()[0].body as Record<string, unknown>;
    expect(body).toMatchObject({
      reasoning_effort: 'low',
      parallel_tool_calls: true,
      metadata: { feature: 'tests' },
      service_tier: 'auto',
      prompt_cache_key: 'tests-1',
      verbosity: 'low',
      store: false, // CHAT_STORE is off
      max_completion_tokens: 50,
      user: upstreamUserId(alice.id),
    });
    for (const field of ['safety_identifier', 'n', 'stop', 'temperature']) {
      expect(body).not.toHaveProperty(field);
    }
  });

  it('enforces CHAT_MAX_MESSAGES and CHAT_MAX_INPUT_CHARS before any upstream call', async () => {
    const many = Array.from({ length: 6 }, () => ({ role: 'user' as const, content: 'hi' }));
    const tooMany = await client.chat.completions
      .create({ messages: many, model: 'gpt-4o-mini' })
      .catch((e: unknown) => e);
    expect(tooMany).toBeInstanceOf(OpenAI.BadRequestError);
    expect((tooMany as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('messages');
    const long = [{ role: 'user' as const, content: 'x'.repeat(2001) }];
    const tooLong = await client.chat.completions
      .create({ messages: long, model: 'gpt-4o-mini' })
      .catch((e: unknown) => e);
    expect(tooLong).toBeInstanceOf(OpenAI.BadRequestError);
    expect(h.mock.requests).toHaveLength(0);
  });

  it('requires a credential with the chat scope', async () => {
    const error = await h
      .client('kw_not-a-real-key')
      .chat.completions.create({ model: 'gpt-4o-mini', messages: hello })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    // Refused by the guard, before any handler: the answer still says what it cost.
    expect((error as InstanceType<typeof OpenAI.APIError>).headers?.get('server-timing')).toMatch(
      SERVER_TIMING,
    );
    expect(h.mock.requests).toHaveLength(0);

    // A real key without the chat scope: 403, still no upstream call.
    const keyRes = await request(h.t.server)
      .post('/api/v1/keys')
      .set('Authorization', `Bearer ${alice.jwt}`)
      .send({ name: 'usage only', scopes: ['usage'] })
      .expect(201);
    const refused = await h
      .client(keyRes.body.key as string)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: hello })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(h.mock.requests).toHaveLength(0);
  });

  it('aborts the upstream request when a streaming client disconnects, and still bills it', async () => {
    h.mock.setFault('never_ending_stream');
    const bob = await h.newUser();
    const controller = new AbortController();
    const stream = await h
      .client(bob.apiKey)
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages: hello, stream: true },
        { signal: controller.signal },
      );
    let seen = 0;
    // The SDK ends the iteration quietly when its own signal aborts it.
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      seen += 1;
      if (seen === 2) controller.abort();
    }
    expect(seen).toBe(2);
    await eventually(() => h.mock.abortedRequests === 1);
    await eventually(async () => {
      const usage = await request(h.t.server)
        .get('/api/v1/usage')
        .set('Authorization', `Bearer ${bob.apiKey}`);
      return (usage.body as { totals: { requests: number } }).totals.requests === 1;
    });
  });

  it('aborts the upstream request when a non-streaming client disconnects', async () => {
    h.mock.setFault('slow_headers');
    const controller = new AbortController();
    const pending = client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: hello },
      { signal: controller.signal },
    );
    await eventually(() => upstreamChats().length === 1);
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    await eventually(() => h.mock.abortedRequests === 1);
  });

  describe('POST /api/v1/chat', () => {
    it('answers {response, model, usage} with Server-Timing', async () => {
      const res = await request(h.t.server)
        .post('/api/v1/chat')
        .set('Authorization', `Bearer ${alice.jwt}`)
        .send({ messages: hello })
        .expect(200);
      expect(res.body).toEqual({
        response: 'Mock reply to: Say hello to the lighthouse keeper',
        model: 'gpt-4o-mini',
        usage: { promptTokens: 13, completionTokens: 13, totalTokens: 26 },
      });
      expect(res.headers['server-timing']).toMatch(SERVER_TIMING);
    });

    it('answers errors as problem+json', async () => {
      const res = await request(h.t.server)
        .post('/api/v1/chat')
        .set('Authorization', `Bearer ${alice.jwt}`)
        .send({ messages: hello, model: 'not-allowed' })
        .expect(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({
        type: 'urn:keyward:problem:validation_failed',
        status: 400,
      });
      const extra = await request(h.t.server)
        .post('/api/v1/chat')
        .set('Authorization', `Bearer ${alice.jwt}`)
        .send({ messages: hello, temperature: 1 })
        .expect(400);
      expect(extra.body.errors[0].field).toBe('temperature');
    });
  });
});
