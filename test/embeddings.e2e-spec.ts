import OpenAI from 'openai';
import request from 'supertest';
import { upstreamUserId } from '../src/chat/upstream-user';
import { expectedEmbedding } from '../tools/mock-openai/embeddings';
import {
  type ChatHarness,
  type ChatUser,
  MOCK_KEY,
  startChatHarness,
} from './support/chat-harness';

describe('Embeddings (/v1/embeddings, through the openai SDK)', () => {
  let h: ChatHarness;
  let alice: ChatUser;
  let client: OpenAI;

  beforeAll(async () => {
    h = await startChatHarness({
      EMBEDDING_MODELS: 'text-embedding-3-small,text-embedding-3-large',
      CHAT_MAX_INPUT_CHARS: '3000',
    });
    alice = await h.newUser({ chatRpm: 1000 });
    client = h.client(alice.apiKey);
  }, 30_000);
  afterEach(() => h.mock.reset());
  afterAll(() => h.close(), 30_000);

  const upstreamCalls = () => h.mock.requests.filter((r) => r.path === '/v1/embeddings');

  it('returns float vectors as upstream made them, with the server key and a hashed user', async () => {
    const bob = await h.newUser();
    const result = await h.client(bob.apiKey).embeddings.create({
      model: 'text-embedding-3-small',
      input: ['tide tables', 'lighthouse'],
      encoding_format: 'float',
      dimensions: 8,
      user: 'client-chosen',
    });
    expect(result.data.map((d) => d.embedding)).toEqual([
      expectedEmbedding('tide tables', 8),
      expectedEmbedding('lighthouse', 8),
    ]);
    const [upstream] = upstreamCalls();
    expect(upstream.headers.authorization).toBe(`Bearer ${MOCK_KEY}`);
    expect(upstream.body).toEqual({
      model: 'text-embedding-3-small',
      input: ['tide tables', 'lighthouse'],
      encoding_format: 'float',
      dimensions: 8,
      user: upstreamUserId(bob.id),
    });
    // Billed the input tokens upstream reported (ceil(11/4) + ceil(10/4) = 6), no output.
    expect((await h.usageToday(bob)).items).toEqual([
      expect.objectContaining({
        model: 'text-embedding-3-small',
        promptTokens: result.usage.prompt_tokens,
        completionTokens: 0,
        requests: 1,
      }),
    ]);
    expect(result.usage.prompt_tokens).toBe(6);
  });

  it('passes base64 through: the SDK’s default request decodes to the same vectors', async () => {
    const result = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'gull',
      dimensions: 4,
    });
    expect(upstreamCalls()[0].body).toMatchObject({ encoding_format: 'base64' });
    const expected = expectedEmbedding('gull', 4);
    result.data[0].embedding.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 6));

    const raw = await request(h.t.server)
      .post('/v1/embeddings')
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .send({
        model: 'text-embedding-3-small',
        input: 'gull',
        dimensions: 4,
        encoding_format: 'base64',
      })
      .expect(200);
    const encoded = (raw.body as { data: Array<{ embedding: string }> }).data[0].embedding;
    expect(typeof encoded).toBe('string');
    const floats = new Float32Array(Uint8Array.from(Buffer.from(encoded, 'base64')).buffer);
    expect(Array.from(floats)).toEqual(expected.map((v) => Math.fround(v)));
  });

  it('accepts token arrays and bills one token per id', async () => {
    const bob = await h.newUser();
    const result = await h.client(bob.apiKey).embeddings.create({
      model: 'text-embedding-3-large',
      input: [
        [1, 2, 3],
        [4, 5],
      ],
      encoding_format: 'float',
      dimensions: 2,
    });
    expect(result.data).toHaveLength(2);
    expect(result.usage.prompt_tokens).toBe(5);
    expect((await h.usageToday(bob)).items[0]).toMatchObject({
      model: 'text-embedding-3-large',
      promptTokens: 5,
    });
  });

  const badBodies: Array<[string, Record<string, unknown>]> = [
    ['model', { model: 'gpt-4o-mini', input: 'chat models are not embedding models' }],
    ['model', { model: 'text-embedding-ada-002', input: 'not allowlisted' }],
    ['input', { model: 'text-embedding-3-small', input: '' }],
    ['input', { model: 'text-embedding-3-small', input: [] }],
    ['input', { model: 'text-embedding-3-small', input: Array.from({ length: 2049 }, () => 'a') }],
    ['input', { model: 'text-embedding-3-small', input: 'x'.repeat(3001) }],
    ['input', { model: 'text-embedding-3-small', input: [[1, 2], 'mixed'] }],
    ['input', { model: 'text-embedding-3-small', input: [-1, 2] }],
    ['input', { model: 'text-embedding-3-small', input: [1.5] }],
    ['input', { model: 'text-embedding-3-small', input: { text: 'object' } }],
    ['encoding_format', { model: 'text-embedding-3-small', input: 'a', encoding_format: 'int8' }],
    ['dimensions', { model: 'text-embedding-3-small', input: 'a', dimensions: 0 }],
    ['extra', { model: 'text-embedding-3-small', input: 'a', extra: true }],
  ];

  it.each(badBodies)(
    'refuses a bad %s with a 400 naming it, before any upstream call',
    async (param, body) => {
      const res = await request(h.t.server)
        .post('/v1/embeddings')
        .set('Authorization', `Bearer ${alice.apiKey}`)
        .send(body);
      expect(res.status).toBe(400);
      expect((res.body as { error: { param: string } }).error.param).toMatch(
        new RegExp(`^${param}`),
      );
      if (param === 'model') {
        expect((res.body as { error: { code: string } }).error.code).toBe('model_not_found');
      }
      expect(upstreamCalls()).toEqual([]);
    },
  );

  it('counts token arrays against the input limit too', async () => {
    const res = await request(h.t.server)
      .post('/v1/embeddings')
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .send({ model: 'text-embedding-3-small', input: Array.from({ length: 3001 }, () => 7) });
    expect(res.status).toBe(400);
    expect(upstreamCalls()).toEqual([]);
  });

  it('refuses a spent budget with 429 before upstream', async () => {
    const poor = await h.newUser({ chatDailyTokens: 10 });
    const poorClient = h.client(poor.apiKey);
    await poorClient.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'hi',
      encoding_format: 'float',
    });
    const refused = await poorClient.embeddings
      .create({ model: 'text-embedding-3-small', input: 'x'.repeat(40), encoding_format: 'float' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(upstreamCalls()).toHaveLength(1);
  });

  it.each([
    ['server_error', 502],
    ['rate_limit', 429],
    ['unauthorized', 502],
    ['slow_headers', 504],
    ['reset_mid_stream', 502],
    ['slow_loris', 504],
    ['invalid_json', 502],
  ] as const)('maps upstream %s to %i without upstream details', async (fault, status) => {
    h.mock.setFault(fault);
    const error = (await client.embeddings
      .create({ model: 'text-embedding-3-small', input: 'a', encoding_format: 'float' })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.status).toBe(status);
    expect(JSON.stringify(error.error)).not.toContain('Incorrect API key');
    expect(JSON.stringify(error.error)).not.toContain(MOCK_KEY);
  });

  it('needs the chat scope and a credential', async () => {
    const key = await request(h.t.server)
      .post('/api/v1/keys')
      .set('Authorization', `Bearer ${alice.jwt}`)
      .send({ name: 'usage-only', scopes: ['usage'] })
      .expect(201);
    const refused = await h
      .client((key.body as { key: string }).key)
      .embeddings.create({ model: 'text-embedding-3-small', input: 'a' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    await request(h.t.server).post('/v1/embeddings').send({ input: 'a' }).expect(401);
    expect(upstreamCalls()).toEqual([]);
  });

  it('CANARY: the server key appears in no log line', () => {
    expect(h.t.logs.length).toBeGreaterThan(0);
    for (const line of h.t.logs) expect(line).not.toContain(MOCK_KEY);
  });
});
