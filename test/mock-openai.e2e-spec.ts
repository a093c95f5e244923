import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import {
  DEFAULT_API_KEY,
  startMockOpenAI,
  type MockOpenAI,
} from '../tools/mock-openai/mock-openai';
import { collect, eventually, streamedText } from './support/chat-harness';

describe('mock OpenAI server', () => {
  let mock: MockOpenAI;
  let client: OpenAI;
  const messages = [
    { role: 'system' as const, content: 'You are terse.' },
    { role: 'user' as const, content: 'Tell me a story about a lighthouse keeper' },
  ];
  // ceil(14/4)+4 + ceil(41/4)+4 = 8 + 15; reply is 15 + 41 = 56 chars = 14 tokens.
  const expectedContent = 'Mock reply to: Tell me a story about a lighthouse keeper';
  const expectedUsage = { prompt_tokens: 23, completion_tokens: 14, total_tokens: 37 };

  beforeAll(async () => {
    mock = await startMockOpenAI();
    client = new OpenAI({ apiKey: DEFAULT_API_KEY, baseURL: mock.url, maxRetries: 0 });
  });

  afterEach(() => mock.reset());

  afterAll(() => mock.close());

  describe('chat completions', () => {
    it('answers deterministically with the last user message and exact usage', async () => {
      const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });

      expect(completion).toMatchObject({
        object: 'chat.completion',
        model: 'gpt-4o-mini',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: expectedContent, refusal: null },
            finish_reason: 'stop',
            logprobs: null,
          },
        ],
        usage: expectedUsage,
      });
      expect(completion.id).toMatch(/^chatcmpl-\w+$/);
    });

    it('cuts the reply to max_tokens and reports finish_reason "length"', async () => {
      const completion = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        max_tokens: 3,
      });

      expect(completion.choices[0]?.message.content).toBe(expectedContent.slice(0, 12));
      expect(completion.choices[0]?.finish_reason).toBe('length');
      expect(completion.usage?.completion_tokens).toBe(3);
    });

    it('rejects an empty messages array with a 400 BadRequestError', async () => {
      await expect(
        client.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }),
      ).rejects.toMatchObject({ status: 400, param: 'messages', code: 'empty_array' });
    });
  });

  describe('streaming', () => {
    it('streams the same text in several chunks and sends no usage unless asked', async () => {
      const chunks = await collect(
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }),
      );

      expect(chunks.length).toBeGreaterThan(4);
      expect(chunks[0]?.choices[0]?.delta).toMatchObject({ role: 'assistant', content: '' });
      expect(streamedText(chunks)).toBe(expectedContent);
      expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
      expect(chunks.every((chunk) => chunk.usage == null)).toBe(true);
      expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true);
    });

    it('ends with a usage-only chunk when stream_options.include_usage is set', async () => {
      const chunks = await collect(
        await client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );

      expect(streamedText(chunks)).toBe(expectedContent);
      const last = chunks.at(-1);
      expect(last?.choices).toEqual([]);
      expect(last?.usage).toMatchObject(expectedUsage);
      expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    });

    it('counts a never-ending stream as aborted once the client walks away', async () => {
      const stream = await client.chat.completions.create(
        { model: 'gpt-4o-mini', messages, stream: true },
        { headers: { 'x-mock-fault': 'never_ending_stream' } },
      );
      const received: string[] = [];
      for await (const chunk of stream) {
        received.push(chunk.choices[0]?.delta.content ?? '');
        if (received.length === 3) break; // breaking out aborts the underlying request
      }

      expect(received.join('')).toBe('Mock reply to: Tell me a ');

      await eventually(() => mock.abortedRequests === 1);
    });

    it('cuts a stream after two content chunks on reset_mid_stream', async () => {
      const stream = await client.chat.completions.create(
        { model: 'gpt-4o-mini', messages, stream: true },
        { headers: { 'x-mock-fault': 'reset_mid_stream' } },
      );
      const received: ChatCompletionChunk[] = [];

      await expect(
        (async () => {
          for await (const chunk of stream) received.push(chunk);
        })(),
      ).rejects.toThrow();
      expect(received).toHaveLength(3); // the role chunk, then two content chunks
      expect(mock.abortedRequests).toBe(0); // the server hung up, not the client
    });
  });

  describe('models', () => {
    it('lists the mock models', async () => {
      const ids: string[] = [];
      for await (const model of client.models.list()) ids.push(model.id);

      expect(ids).toEqual(['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini']);
    });
  });

  describe('tool calls, structured answers and what the real API adds', () => {
    const lookup = {
      type: 'function' as const,
      function: {
        name: 'lookup',
        parameters: {
          type: 'object',
          properties: { query: { type: 'string' }, limit: { type: 'integer' } },
        },
      },
    };
    const ask = [{ role: 'user' as const, content: 'weather in Brest' }];

    it('answers with a tool call and content null, then with text once the results are in', async () => {
      const first = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: ask,
        tools: [lookup],
      });
      const message = first.choices[0].message;
      expect(message.content).toBeNull();
      expect(first.choices[0].finish_reason).toBe('tool_calls');
      const call = message.tool_calls?.[0];
      expect(call).toMatchObject({ type: 'function', function: { name: 'lookup' } });
      if (call?.type !== 'function') throw new Error('expected a function call');
      expect(JSON.parse(call.function.arguments)).toEqual({
        query: 'weather in Brest',
        limit: 42,
      });
      const second = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [...ask, message, { role: 'tool', tool_call_id: call.id, content: 'rain' }],
        tools: [lookup],
      });
      expect(second.choices[0].message.content).toBe('Mock reply to tool result: rain');
    });

    it('streams tool_calls deltas that add up to the same call', async () => {
      const chunks = await collect(
        await client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: ask,
          tools: [lookup],
          stream: true,
        }),
      );
      const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
      expect(deltas[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'lookup' } });
      expect(deltas.length).toBeGreaterThan(2);
      const args = deltas.map((delta) => delta.function?.arguments ?? '').join('');
      expect(JSON.parse(args)).toEqual({ query: 'weather in Brest', limit: 42 });
      expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
    });

    it('answers a json_schema response_format with JSON that fits the schema', async () => {
      const completion = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: ask,
        response_format: {
          type: 'json_schema',
          json_schema: {
            name: 'answer',
            schema: {
              type: 'object',
              properties: { text: { type: 'string' }, ok: { type: 'boolean' } },
            },
          },
        },
      });
      expect(JSON.parse(completion.choices[0].message.content ?? '')).toEqual({
        text: 'Mock reply to: weather in Brest',
        ok: true,
      });
    });

    it('leaves usage out under no_usage, streamed or not', async () => {
      mock.setFault('no_usage');
      const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
      expect(completion.usage).toBeUndefined();
      const chunks = await collect(
        await client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      expect(chunks.some((chunk) => chunk.usage)).toBe(false);
      expect(streamedText(chunks)).toBe(expectedContent);
    });

    it('frames a stream with CRLF and splits events across writes, which the SDK still reads', async () => {
      mock.setFault('crlf_framing');
      const chunks = await collect(
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }),
      );
      expect(streamedText(chunks)).toBe(expectedContent);
      const raw = await fetch(`${mock.url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${DEFAULT_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages, stream: true }),
      });
      const text = await raw.text();
      expect(text.endsWith('data: [DONE]\r\n\r\n')).toBe(true);
      expect(text.replace(/\r\n/g, '')).not.toContain('\n');
    });

    it('sends organisation, project, rate-limit headers and cookies on a success', async () => {
      const { response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages })
        .withResponse();
      expect(response.headers.get('openai-organization')).toMatch(/^org-/);
      expect(response.headers.get('openai-project')).toMatch(/^proj_/);
      expect(response.headers.get('x-ratelimit-remaining-requests')).toBeTruthy();
      expect(response.headers.getSetCookie()).toHaveLength(2);
    });

    it.each([
      ['context_length_exceeded', 400, 'context_length_exceeded', OpenAI.BadRequestError],
      ['invalid_tool_schema', 400, 'invalid_function_parameters', OpenAI.BadRequestError],
      ['insufficient_quota', 429, 'insufficient_quota', OpenAI.RateLimitError],
      ['rate_limit_reset_only', 429, 'rate_limit_exceeded', OpenAI.RateLimitError],
    ] as const)('answers the %s fault with %i %s', async (fault, status, code, type) => {
      mock.setFault(fault);
      const error = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect(error).toMatchObject({ status, code });
      const headers = (error as InstanceType<typeof OpenAI.APIError>).headers;
      expect(headers?.get('retry-after')).toBeNull();
      if (fault === 'rate_limit_reset_only') {
        expect(headers?.get('x-ratelimit-reset-tokens')).toBe('1m30s');
      }
    });

    it('quotes the sent key’s last characters in a 401, as OpenAI does', async () => {
      const stranger = new OpenAI({
        apiKey: 'sk-wrong-key-9876',
        baseURL: mock.url,
        maxRetries: 0,
      });
      const error = await stranger.models.list().catch((e: unknown) => e);
      expect((error as Error).message).toContain('9876');
    });
  });

  describe('authentication and faults', () => {
    it('rejects a wrong API key with AuthenticationError', async () => {
      const stranger = new OpenAI({ apiKey: 'sk-wrong', baseURL: mock.url, maxRetries: 0 });

      const error: unknown = await stranger.models.list().catch((e: unknown) => e);

      expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(error).toMatchObject({ status: 401, code: 'invalid_api_key' });
    });

    it('accepts a rotated key only after setApiKey', async () => {
      mock.setApiKey('sk-rotated');
      try {
        await expect(client.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
        const rotated = new OpenAI({ apiKey: 'sk-rotated', baseURL: mock.url, maxRetries: 0 });
        await expect(rotated.models.list()).resolves.toBeDefined();
      } finally {
        mock.setApiKey(DEFAULT_API_KEY);
      }
    });

    it('returns 429 with retry-after for the rate_limit fault', async () => {
      const error: unknown = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages }, { headers: { 'x-mock-fault': 'rate_limit' } })
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      expect(error).toMatchObject({ status: 429, type: 'requests', code: 'rate_limit_exceeded' });
      expect((error as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe(
        '1',
      );
    });

    it('applies a fault set with setFault to every request until reset', async () => {
      mock.setFault('server_error');

      await expect(client.models.list()).rejects.toBeInstanceOf(OpenAI.InternalServerError);
      mock.reset();
      await expect(client.models.list()).resolves.toBeDefined();
    });

    it('drops the connection without a response on reset_before_headers', async () => {
      await expect(
        client.chat.completions.create(
          { model: 'gpt-4o-mini', messages },
          { headers: { 'x-mock-fault': 'reset_before_headers' } },
        ),
      ).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    });
  });

  describe('request recording', () => {
    it('records method, path, lower-cased headers and the parsed body', async () => {
      await client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 50 });

      expect(mock.requests).toHaveLength(1);
      expect(mock.requests[0]).toMatchObject({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: {
          authorization: `Bearer ${DEFAULT_API_KEY}`,
          'content-type': 'application/json',
        },
        body: { model: 'gpt-4o', messages, max_tokens: 50 },
      });
    });

    it('records rejected and faulted requests too', async () => {
      const stranger = new OpenAI({ apiKey: 'sk-wrong', baseURL: mock.url, maxRetries: 0 });
      await stranger.models.list().catch(() => undefined);
      await client.models
        .list({ headers: { 'x-mock-fault': 'bad_gateway' } })
        .catch(() => undefined);

      expect(mock.requests.map((request) => request.headers.authorization)).toEqual([
        'Bearer sk-wrong',
        `Bearer ${DEFAULT_API_KEY}`,
      ]);
    });
  });
});

describe('mock OpenAI server shutdown', () => {
  it('closes keep-alive and stalled connections so nothing is left open', async () => {
    const mock = await startMockOpenAI();
    const client = new OpenAI({ apiKey: DEFAULT_API_KEY, baseURL: mock.url, maxRetries: 0 });
    await client.models.list();
    // A response that would otherwise trickle forever, holding a socket and a timer.
    const stalled = client.models
      .list({ headers: { 'x-mock-fault': 'slow_loris' } })
      .catch((error: unknown) => error);
    await eventually(() => mock.requests.length === 2);
    expect(mock.openConnections()).toBeGreaterThanOrEqual(1);

    await mock.close();

    expect(mock.openConnections()).toBe(0);
    // Headers had arrived, so the SDK fails while reading the body: undici's bare TypeError
    // ('terminated'), not an APIConnectionError. Callers of the SDK must expect both.
    expect(await stalled).toMatchObject({ name: 'TypeError', message: 'terminated' });
    expect(mock.abortedRequests).toBe(0); // the server closed them, the client did not leave
  });
});
