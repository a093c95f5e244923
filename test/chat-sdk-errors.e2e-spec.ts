import { estimateTextTokens } from '../src/chat/token-estimate';
import OpenAI from 'openai';
import request from 'supertest';
import type { FaultMode } from '../tools/mock-openai/mock-openai';
import {
  type ChatHarness,
  collect,
  MOCK_KEY,
  startChatHarness,
  streamedText,
} from './support/chat-harness';

const hi = [{ role: 'user' as const, content: 'hi' }];
/** Headers OpenAI (and the mock) send that describe the upstream account: never relayed. */
const UPSTREAM_HEADERS =
  /^(openai-organization|openai-project|openai-processing-ms|x-ratelimit-|set-cookie|openai-version)/;

type ApiError = InstanceType<typeof OpenAI.APIError>;

/**
 * What the OpenAI SDK does with Keyward's answers when the upstream behaves like the real
 * API (tool calls, missing usage, its own 400s and 429s, chatty headers, odd framing), and
 * with Keyward's own refusals: an SDK with default settings must raise at once where waiting
 * cannot help, and back off briefly where it can.
 */
describe('Chat errors SDKs act on, and the upstream as it really behaves', () => {
  let h: ChatHarness;

  beforeAll(async () => {
    h = await startChatHarness();
  }, 30_000);
  afterEach(() => h.mock.reset());
  afterAll(() => h.close(), 30_000);

  const upstreamChats = () => h.mock.requests.filter((r) => r.path === '/v1/chat/completions');

  /** The SDK with default retries and timeouts; counts what reaches Keyward. */
  function defaultClient(apiKey: string) {
    const calls = { count: 0 };
    const client = new OpenAI({
      apiKey,
      baseURL: h.baseURL,
      fetch: (input, init) => {
        calls.count += 1;
        return fetch(input, init);
      },
    });
    return { client, calls };
  }

  async function usageTotals(apiKey: string) {
    const res = await request(h.t.server)
      .get('/api/v1/usage')
      .set('Authorization', `Bearer ${apiKey}`)
      .expect(200);
    return res.body.totals as { totalTokens: number; requests: number };
  }

  async function failure(promise: Promise<unknown>): Promise<ApiError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(error instanceof OpenAI.APIError))
      throw new Error(`expected an APIError: ${String(error)}`);
    return error;
  }

  it('raises a spent budget at once with default SDK settings: one call, no sleeping on Retry-After', async () => {
    const user = await h.newUser({ chatDailyTokens: 20 });
    const { client, calls } = defaultClient(user.apiKey);
    // 10 tokens, then the last 10 (prompt ceiling 9 + a 1-token answer): the budget is spent.
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
    const before = calls.count;
    const error = await failure(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }),
    );
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error).toMatchObject({
      status: 429,
      code: 'insufficient_quota',
      type: 'insufficient_quota',
      param: 'user.daily_tokens',
    });
    // Exactly one attempt: the SDK (maxRetries 2) did not retry, so it never slept on the
    // hours-long Retry-After, which is still there as information.
    expect(calls.count - before).toBe(1);
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);
    expect(upstreamChats()).toHaveLength(2);
  });

  it('maps an upstream insufficient_quota to a 429 the SDK does not retry, billed nothing', async () => {
    const user = await h.newUser();
    const { client, calls } = defaultClient(user.apiKey);
    h.mock.setFault('insufficient_quota');
    const error = await failure(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }),
    );
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error).toMatchObject({ status: 429, code: 'insufficient_quota' });
    expect(error.message).toMatch(/operator/);
    expect(error.message).not.toMatch(/billing details/); // upstream wording stays private
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(calls.count).toBe(1);
    expect(upstreamChats()).toHaveLength(1); // Keyward does not retry a 429 either
    expect((await usageTotals(user.apiKey)).totalTokens).toBe(0);
  });

  it('derives Retry-After from x-ratelimit-reset-* when upstream sends nothing else, capped at 60 s', async () => {
    const user = await h.newUser();
    h.mock.setFault('rate_limit_reset_only');
    const error = await failure(
      h.client(user.apiKey).chat.completions.create({ model: 'gpt-4o-mini', messages: hi }),
    );
    expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    // x-ratelimit-reset-tokens: 1m30s → 90 s, capped to 60.
    expect(error.headers?.get('retry-after')).toBe('60');
    expect(error.headers?.get('retry-after-ms')).toBe('60000');
    expect(
      [...(error.headers?.keys() ?? [])].filter((name) => UPSTREAM_HEADERS.test(name)),
    ).toEqual([]);
  });

  it.each([
    ['context_length_exceeded', /128000|reduce the length/],
    ['invalid_tool_schema', /additionalProperties|lookup/],
  ] as const)(
    'turns an upstream 400 (%s) for a request Keyward accepted into a 400 in its own words',
    async (fault, upstreamWords) => {
      const user = await h.newUser();
      h.mock.setFault(fault);
      const error = await failure(
        h.client(user.apiKey).chat.completions.create({ model: 'gpt-4o-mini', messages: hi }),
      );
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error.message).toMatch(/upstream model refused/);
      expect(JSON.stringify(error.error)).not.toMatch(upstreamWords);
      expect((await usageTotals(user.apiKey)).totalTokens).toBe(0);
    },
  );

  it('never shows the key’s last characters that an upstream 401 quotes', async () => {
    const user = await h.newUser();
    h.mock.setFault('unauthorized');
    const error = await failure(
      h.client(user.apiKey).chat.completions.create({ model: 'gpt-4o-mini', messages: hi }),
    );
    expect(error.status).toBe(502);
    const seen = JSON.stringify({ body: error.error, headers: [...(error.headers ?? [])] });
    expect(seen).not.toContain(MOCK_KEY.slice(-4));
    expect(seen).not.toMatch(/Incorrect API key/);
    const logs = h.t.logs.join('\n');
    expect(logs).not.toContain(MOCK_KEY.slice(-8));
  });

  it('relays no upstream header or cookie, streamed or not', async () => {
    const user = await h.newUser();
    const client = h.client(user.apiKey);
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: hi })
      .withResponse();
    const streamed = await fetch(`${h.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: hi, stream: true }),
    });
    await streamed.text();
    // The mock did send them: this test would catch a relay.
    expect(h.mock.requests).toHaveLength(2);
    for (const headers of [response.headers, streamed.headers]) {
      expect([...headers.keys()].filter((name) => UPSTREAM_HEADERS.test(name))).toEqual([]);
      expect(headers.getSetCookie()).toEqual([]);
    }
  });

  it('bills an answer without usage by its estimate, streamed or not', async () => {
    const user = await h.newUser();
    const client = h.client(user.apiKey);
    h.mock.setFault('no_usage');
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hi });
    expect(completion.choices[0].message.content).toBe('Mock reply to: hi');
    const chunks = await collect(
      await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: hi,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    expect(streamedText(chunks)).toBe('Mock reply to: hi');
    // Estimate (tokenizer): prompt 3 priming + 4 framing + "hi", completion the reply text.
    const each = 3 + 4 + estimateTextTokens('hi') + estimateTextTokens('Mock reply to: hi');
    expect(each).toBe(13);
    expect(await usageTotals(user.apiKey)).toMatchObject({ totalTokens: 2 * each, requests: 2 });
  });

  it('bills a streamed tool call without usage by its arguments', async () => {
    const user = await h.newUser();
    h.mock.setFault('no_usage');
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'lookup',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ];
    const stream = await h.client(user.apiKey).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: hi,
      stream: true,
      tools,
    });
    const chunks = await collect(stream);
    const args = chunks
      .flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? [])
      .map((delta) => delta.function?.arguments ?? '')
      .join('');
    expect(args).toBe('{"city":"hi"}');
    // Estimate (tokenizer): prompt 3 + 4 + "hi" + the tool definitions, completion the arguments.
    const prompt = 3 + 4 + estimateTextTokens('hi') + estimateTextTokens(JSON.stringify(tools));
    const total = prompt + estimateTextTokens('{"city":"hi"}');
    expect(await usageTotals(user.apiKey)).toMatchObject({ totalTokens: total, requests: 1 });
  });

  it.each([
    ['plain', null],
    ['CRLF framing split across writes', 'crlf_framing'],
  ] as const)(
    'relays a %s stream whole, usage cut unless asked and billed exactly',
    async (_name, fault: FaultMode | null) => {
      const user = await h.newUser();
      h.mock.setFault(fault);
      const raw = await fetch(`${h.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          messages: [{ role: 'user', content: 'tell me more' }],
          stream: true,
        }),
      });
      const text = await raw.text();
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
      expect(text).not.toContain('"usage"');
      const content = text
        .split('\n\n')
        .filter((event) => event.startsWith('data: {'))
        .map((event) => JSON.parse(event.slice(6)).choices[0]?.delta?.content ?? '')
        .join('');
      expect(content).toBe('Mock reply to: tell me more');
      // The mock's exact usage: prompt ceil(12/4)+4 = 7, completion ceil(27/4) = 7.
      expect((await usageTotals(user.apiKey)).totalTokens).toBe(14);
    },
  );
});
