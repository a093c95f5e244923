import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import request from 'supertest';
import { upstreamUserId } from '../src/chat/upstream-user';
import {
  type ChatHarness,
  type ChatUser,
  eventually,
  MOCK_KEY,
  startChatHarness,
} from './support/chat-harness';

const SERVER_TIMING =
  /^keyward;desc="[^"]+";dur=\d+(\.\d+)?, upstream;desc="[^"]+";dur=\d+(\.\d+)?$/;
const QUESTION = 'Which way to the lighthouse?';

describe('Responses API (/v1/responses, through the openai SDK)', () => {
  let h: ChatHarness;
  let alice: ChatUser;
  let mallory: ChatUser;
  let client: OpenAI;

  beforeAll(async () => {
    h = await startChatHarness({ CHAT_MAX_MESSAGES: '5', CHAT_MAX_INPUT_CHARS: '2000' });
    alice = await h.newUser({ chatRpm: 1000 });
    mallory = await h.newUser({ chatRpm: 1000 });
    client = h.client(alice.apiKey);
  }, 30_000);
  afterEach(() => h.mock.reset());
  afterAll(() => h.close(), 30_000);

  const upstreamCalls = () => h.mock.requests.filter((r) => r.path.startsWith('/v1/responses'));
  const lastUpstreamBody = () => upstreamCalls().at(-1)?.body as Record<string, unknown>;

  async function refusal(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
    const error = await promise.then(
      () => new Error('expected a refusal'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    return error as InstanceType<typeof OpenAI.APIError>;
  }

  it('answers with the server key, the budget cap, a hashed user and the configured store', async () => {
    const bob = await h.newUser();
    const { data, response } = await h
      .client(bob.apiKey)
      .responses.create({
        model: 'gpt-4o',
        input: QUESTION,
        instructions: 'Be brief.',
        user: 'client-chosen',
        safety_identifier: 'client-chosen-too',
        store: false,
      })
      .withResponse();
    expect(data.output_text).toBe(`Mock reply to: ${QUESTION}`);
    expect(data.object).toBe('response');
    expect(data.id).toMatch(/^resp_/);
    expect(response.headers.get('server-timing')).toMatch(SERVER_TIMING);

    const [upstream] = upstreamCalls();
    expect(upstream.headers.authorization).toBe(`Bearer ${MOCK_KEY}`);
    const body = upstream.body as Record<string, unknown>;
    expect(body).toMatchObject({
      model: 'gpt-4o',
      input: QUESTION,
      instructions: 'Be brief.',
      max_output_tokens: 16_384,
      safety_identifier: upstreamUserId(bob.id),
      store: true,
      stream: false,
    });
    expect(body).not.toHaveProperty('user');
    // Billed exactly what upstream reported, in the user's own usage report.
    const usage = await h.usageToday(bob);
    expect(usage.items).toEqual([
      expect.objectContaining({
        model: 'gpt-4o',
        promptTokens: data.usage?.input_tokens,
        completionTokens: data.usage?.output_tokens,
        requests: 1,
      }),
    ]);
    expect(data.usage?.input_tokens).toBeGreaterThan(0);
  });

  it('streams OpenAI’s events in order, records the id and bills the final usage', async () => {
    const bob = await h.newUser();
    const stream = await h
      .client(bob.apiKey)
      .responses.create({ model: 'gpt-4o-mini', input: QUESTION, stream: true });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const types = events.map((event) => event.type);
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(types).toEqual(
      expect.arrayContaining([
        'response.in_progress',
        'response.output_item.added',
        'response.output_text.delta',
        'response.output_text.done',
        'response.output_item.done',
      ]),
    );
    const text = events
      .map((event) => (event.type === 'response.output_text.delta' ? event.delta : ''))
      .join('');
    expect(text).toBe(`Mock reply to: ${QUESTION}`);
    const completed = events.at(-1);
    if (completed?.type !== 'response.completed') throw new Error('no completed event');
    const usage = await h.usageToday(bob);
    expect(usage.totals).toMatchObject({
      promptTokens: completed.response.usage?.input_tokens,
      completionTokens: completed.response.usage?.output_tokens,
      requests: 1,
    });
    // The streamed id is the caller's: it can be fetched back.
    const fetched = await h.client(bob.apiKey).responses.retrieve(completed.response.id);
    expect(fetched.id).toBe(completed.response.id);
    expect(upstreamCalls()[0].body).toMatchObject({ stream: true });
  });

  it('sends SSE headers with Server-Timing on a raw stream, events named as OpenAI names them', async () => {
    const res = await fetch(`${h.baseURL}/responses`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ input: QUESTION, stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('server-timing')).toMatch(SERVER_TIMING);
    const raw = await res.text();
    expect(raw.startsWith('event: response.created\ndata: {')).toBe(true);
    expect(raw).toMatch(/event: response\.completed\ndata: \{[^\n]*"type":"response\.completed"/);
    expect(raw).not.toContain('[DONE]');
  });

  it('chains previous_response_id for its owner and reserves the earlier context', async () => {
    const first = await client.responses.create({ input: 'Remember the word: gull.' });
    const second = await client.responses.create({
      input: 'Which word?',
      previous_response_id: first.id,
    });
    expect(second.previous_response_id).toBe(first.id);
    expect(lastUpstreamBody().previous_response_id).toBe(first.id);
    // The mock bills the earlier conversation again, as OpenAI does.
    expect(second.usage?.input_tokens).toBeGreaterThan(first.usage?.total_tokens ?? Infinity);
  });

  it('answers 404 for another user’s response id, in previous_response_id or the path, and never relays it', async () => {
    const own = await client.responses.create({ input: QUESTION });
    h.mock.reset();
    const thief = h.client(mallory.apiKey);
    const chained = await refusal(
      thief.responses.create({ input: 'continue', previous_response_id: own.id }),
    );
    expect(chained).toBeInstanceOf(OpenAI.NotFoundError);
    expect(chained.param).toBe('previous_response_id');
    expect((await refusal(thief.responses.retrieve(own.id))).status).toBe(404);
    expect((await refusal(thief.responses.delete(own.id))).status).toBe(404);
    // The same answer for an id that never existed: existence is not confirmed.
    const unknown = await refusal(thief.responses.retrieve('resp_doesnotexist'));
    expect(unknown.status).toBe(404);
    expect(unknown.message).toBe(chained.message.replace(own.id, 'resp_doesnotexist'));
    for (const bad of ['..%2F..%2Fmodels', 'resp_%00', 'resp_a%2Fb']) {
      const res = await request(h.t.server)
        .get(`/v1/responses/${bad}`)
        .set('Authorization', `Bearer ${mallory.apiKey}`);
      expect(res.status).toBe(404);
    }
    expect(upstreamCalls()).toEqual([]);
    // Still the owner's.
    expect((await client.responses.retrieve(own.id)).id).toBe(own.id);
  });

  it('deletes an own response upstream, after which it is 404 without an upstream call', async () => {
    const own = await client.responses.create({ input: QUESTION });
    await client.responses.delete(own.id);
    expect(h.mock.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: `/v1/responses/${own.id}`,
    });
    h.mock.reset();
    expect((await refusal(client.responses.retrieve(own.id))).status).toBe(404);
    expect(upstreamCalls()).toEqual([]);
  });

  it('answers 404, not 502, for an own response upstream no longer has', async () => {
    const own = await client.responses.create({ input: QUESTION });
    // Gone upstream (expired or deleted elsewhere) while Keyward still knows its owner.
    await new OpenAI({ apiKey: MOCK_KEY, baseURL: h.mock.url }).responses.delete(own.id);
    const gone = await refusal(client.responses.retrieve(own.id));
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
    expect(gone.message).not.toContain(own.id);
    expect(upstreamCalls().at(-1)).toMatchObject({
      method: 'GET',
      path: `/v1/responses/${own.id}`,
    });
  });

  it('describes the new routes in OpenAPI, with the request fields and no secret', async () => {
    const doc = await request(h.t.server).get('/docs-json').expect(200);
    const text = JSON.stringify(doc.body);
    expect(text).not.toContain(MOCK_KEY);
    const paths = (doc.body as { paths: Record<string, Record<string, unknown>> }).paths;
    expect(Object.keys(paths['/v1/responses/{id}']).sort()).toEqual(['delete', 'get']);
    const create = paths['/v1/responses'].post as {
      requestBody: { content: { 'application/json': { schema: { properties: object } } } };
    };
    expect(Object.keys(create.requestBody.content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining(['input', 'previous_response_id', 'max_output_tokens', 'tools']),
    );
    expect(paths['/v1/embeddings'].post).toBeDefined();
  });

  it('relays a function tool call and accepts the tool output back as input items', async () => {
    const tools = [
      {
        type: 'function' as const,
        name: 'find_lighthouse',
        description: 'Finds a lighthouse',
        parameters: {
          type: 'object',
          properties: { coast: { type: 'string' } },
          required: ['coast'],
          additionalProperties: false,
        },
        strict: true,
      },
    ];
    const first = await client.responses.create({ input: 'Brittany', tools });
    const call = first.output[0];
    if (call.type !== 'function_call') throw new Error(`expected a function call: ${call.type}`);
    expect(call.name).toBe('find_lighthouse');
    expect(JSON.parse(call.arguments)).toEqual({ coast: 'Brittany' });
    const second = await client.responses.create({
      tools,
      input: [
        { role: 'user', content: 'Brittany' },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: 'Phare du Créac’h' },
      ],
    });
    expect(second.output_text).toBe('Mock reply to tool output: Phare du Créac’h');
    expect(lastUpstreamBody().tools).toEqual(tools);
  });

  const badFields: Array<[Record<string, unknown>, string]> = [
    [{ bogus_field: 1 }, 'bogus_field'],
    [{ tools: [{ type: 'web_search' }] }, 'tools[0].type'],
    [{ tools: [{ type: 'file_search', vector_store_ids: ['vs_1'] }] }, 'tools[0].type'],
    [{ background: true }, 'background'],
    [{ service_tier: 'priority' }, 'service_tier'],
    [{ conversation: 'conv_123' }, 'conversation'],
    [{ prompt: { id: 'pmpt_1' } }, 'prompt'],
    [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type'],
    [
      { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }] },
      'input[0].content[0].file_id',
    ],
    [
      {
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_image', image_url: 'http://169.254.169.254/x', detail: 'auto' },
            ],
          },
        ],
      },
      'input[0].content[0].image_url',
    ],
    [{ model: 'gpt-5-enormous' }, 'model'],
    [{ max_output_tokens: 5 }, 'max_output_tokens'],
    [{ stream_options: { include_obfuscation: false } }, 'stream_options'],
    [{ input: Array.from({ length: 6 }, () => ({ role: 'user', content: 'hi' })) }, 'input'],
    [{ input: 'x'.repeat(2001) }, 'input'],
    [{ metadata: { a: 'b'.repeat(600) } }, 'metadata.a'],
  ];

  it.each(badFields.map(([fields, param]) => [param, fields] as const))(
    'refuses a bad %s with a 400 naming it, before any upstream call',
    async (param, fields) => {
      const res = await request(h.t.server)
        .post('/v1/responses')
        .set('Authorization', `Bearer ${alice.apiKey}`)
        .send({ input: QUESTION, ...fields });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: { type: 'invalid_request_error', param } });
      // An SDK tells a model outside the allowlist from other bad input by its code.
      if (param === 'model') expect(res.body.error.code).toBe('model_not_found');
      expect(upstreamCalls()).toEqual([]);
    },
  );

  it('answers 400, never 500, to bodies that are not objects or carry prototype keys', async () => {
    for (const body of [
      '[]',
      '"text"',
      '{"__proto__":{"x":1},"input":"a"}',
      '{"input":"\\u0000"}',
    ]) {
      const res = await request(h.t.server)
        .post('/v1/responses')
        .set('Authorization', `Bearer ${alice.apiKey}`)
        .set('Content-Type', 'application/json')
        .send(body);
      // A NUL byte is text like any other: it is relayed, not a server error.
      expect({ body, status: res.status }).toEqual({
        body,
        status: body.includes('\\u0000') ? 200 : 400,
      });
    }
  });

  it('clamps max_output_tokens to the budget and refuses a spent budget before upstream', async () => {
    const poor = await h.newUser({ chatDailyTokens: 200 });
    const poorClient = h.client(poor.apiKey);
    const answer = await poorClient.responses.create({ input: 'hi', max_output_tokens: 5000 });
    const granted = lastUpstreamBody().max_output_tokens as number;
    expect(granted).toBeLessThan(200);
    expect(granted).toBeGreaterThanOrEqual(16);
    expect(answer.output_text).toBe('Mock reply to: hi');
    h.mock.reset();
    // Spend the rest, then one more is refused without reaching upstream.
    let refused: InstanceType<typeof OpenAI.APIError> | undefined;
    for (let i = 0; i < 20 && !refused; i += 1) {
      refused = await poorClient.responses.create({ input: 'hi' }).then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
    }
    expect(refused?.status).toBe(429);
    const calls = upstreamCalls().length;
    await refusal(poorClient.responses.create({ input: 'hi' }));
    expect(upstreamCalls()).toHaveLength(calls);
    expect((await h.usageToday(poor)).totals.totalTokens).toBeLessThanOrEqual(200);
  });

  it('holds a budget under 50 parallel requests', async () => {
    // Each answer really costs 10 tokens (mock usage) but reserves ~120: 300 runs out.
    const crowd = await h.newUser({ chatDailyTokens: 300, chatRpm: 1000 });
    const crowdClient = h.client(crowd.apiKey);
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () =>
        crowdClient.responses.create({ input: 'hi', max_output_tokens: 100 }).then(
          () => 200,
          (e: unknown) => (e as InstanceType<typeof OpenAI.APIError>).status,
        ),
      ),
    );
    expect(outcomes.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(outcomes.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(outcomes.every((s) => s === 200 || s === 429)).toBe(true);
    // Only admitted requests reached upstream, and what was spent stays within the budget.
    expect(upstreamCalls()).toHaveLength(outcomes.filter((s) => s === 200).length);
    const spent = (await h.usageToday(crowd)).totals;
    expect(spent.totalTokens).toBeLessThanOrEqual(300);
    expect(spent.requests).toBe(outcomes.filter((s) => s === 200).length);
  });

  it('bills a stream cut by upstream and ends it with an error event the SDK raises', async () => {
    const bob = await h.newUser();
    h.mock.setFault('reset_mid_stream');
    const cut = await h.client(bob.apiKey).responses.create({ input: QUESTION, stream: true });
    const seen: string[] = [];
    const failure = await (async () => {
      for await (const event of cut) seen.push(event.type);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as Error).message).toContain('upstream stream failed');
    expect(seen[0]).toBe('response.created');
    expect(seen).not.toContain('response.completed');
    await eventually(async () => (await h.usageToday(bob)).totals.requests === 1);
    const usage = await h.usageToday(bob);
    expect(usage.totals.promptTokens).toBeGreaterThan(0);
  });

  it('ends a stream that outlives UPSTREAM_TIMEOUT_MS with an error event, billed', async () => {
    h.mock.setFault('never_ending_stream');
    const bob = await h.newUser();
    const stream = await h.client(bob.apiKey).responses.create({ input: QUESTION, stream: true });
    const seen: string[] = [];
    const failure = await (async () => {
      for await (const event of stream) seen.push(event.type);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as Error).message).toContain('did not finish in time');
    expect(seen[0]).toBe('response.created');
    await eventually(async () => (await h.usageToday(bob)).totals.requests === 1);
  });

  it('aborts upstream when a streaming client leaves, and still bills it', async () => {
    h.mock.setFault('never_ending_stream');
    const bob = await h.newUser();
    const controller = new AbortController();
    const stream = await h
      .client(bob.apiKey)
      .responses.create({ input: QUESTION, stream: true }, { signal: controller.signal });
    let seen = 0;
    for await (const event of stream) {
      expect(event.type).toMatch(/^response\./);
      seen += 1;
      if (seen === 2) controller.abort();
    }
    expect(seen).toBe(2);
    await eventually(() => h.mock.abortedRequests === 1);
    await eventually(async () => (await h.usageToday(bob)).totals.requests === 1);
    expect((await h.usageToday(bob)).totals.promptTokens).toBeGreaterThan(0);
  });

  it.each([
    ['rate_limit', 429],
    ['server_error', 502],
    ['unauthorized', 502],
    ['slow_headers', 504],
    ['invalid_json', 502],
    ['reset_mid_stream', 502],
    ['slow_loris', 504],
  ] as const)('maps upstream %s to %i without upstream details', async (fault, status) => {
    h.mock.setFault(fault);
    const error = await refusal(client.responses.create({ input: QUESTION }));
    expect(error.status).toBe(status);
    const text = JSON.stringify({ body: error.error, headers: [...(error.headers ?? [])] });
    expect(text).not.toContain(MOCK_KEY);
    expect(text).not.toContain('Incorrect API key');
    expect(text).not.toContain('x-ratelimit');
  });

  it('requires a credential with the chat scope', async () => {
    const token = await request(h.t.server)
      .post('/api/v1/keys')
      .set('Authorization', `Bearer ${alice.jwt}`)
      .send({ name: 'usage-only', scopes: ['usage'] })
      .expect(201);
    const usageOnly = h.client((token.body as { key: string }).key);
    expect(await refusal(usageOnly.responses.create({ input: QUESTION }))).toBeInstanceOf(
      OpenAI.PermissionDeniedError,
    );
    await request(h.t.server).post('/v1/responses').send({ input: QUESTION }).expect(401);
    expect(upstreamCalls()).toEqual([]);
  });

  it('CANARY: the server key appears in no log line', () => {
    for (const line of h.t.logs) {
      expect(line).not.toContain(MOCK_KEY);
      expect(line).not.toContain(MOCK_KEY.slice(-12));
    }
  });
});
