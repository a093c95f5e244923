import { request as httpRequest, type IncomingMessage } from 'node:http';
import { UsageService } from '../src/usage/usage.service';
import { LONG_STREAM_CHUNKS } from '../tools/mock-openai/mock-openai';
import {
  type ChatHarness,
  type ChatUser,
  eventually,
  startChatHarness,
} from './support/chat-harness';
import { sendRaw } from './support/raw-http';

/**
 * The paths the upstream dispatch handler (src/chat/upstream-fetch.ts, `UpstreamExchange`)
 * adds to `/v1/chat/completions`, against the real mock upstream: a non-streamed answer past
 * the bound or cut mid-body, a slow streaming reader (back-pressure), and a streaming client
 * that leaves while Keyward waits for its socket. upstream-faults.e2e-spec.ts covers the
 * faults the relay had before.
 */
/** Small enough that one worst-case reservation is the whole budget (as upstream-faults). */
const DAILY_TOKENS = 6000;

describe('Upstream relay: bounded answers, back-pressure, clients leaving mid-stream', () => {
  let h: ChatHarness;

  beforeAll(async () => {
    h = await startChatHarness(
      { UPSTREAM_TIMEOUT_MS: '20000' },
      // Chunks as fast as the reader takes them: only back-pressure slows the stream.
      { streamChunkDelayMs: 0 },
    );
  }, 60_000);

  afterAll(() => h?.close(), 30_000);

  const hello = [{ role: 'user', content: 'one two three four five six seven eight nine' }];

  function post(user: ChatUser, body: Record<string, unknown>) {
    return sendRaw(h.t.url!, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.apiKey}` },
      body: JSON.stringify({ model: 'gpt-4o-mini', ...body }),
      timeoutMs: 20_000,
    });
  }

  async function billed(user: ChatUser): Promise<{ requests: number; tokens: number }> {
    const report = await h.t.app.get(UsageService).own({ userId: user.id, authMethod: 'jwt' });
    return { requests: report.totals.requests, tokens: report.totals.totalTokens };
  }

  /** Opens a stream and hands back its response unread (paused), with the request to abort it. */
  async function openStream(user: ChatUser): Promise<{ res: IncomingMessage; destroy(): void }> {
    const url = new URL('/v1/chat/completions', h.t.url);
    const body = JSON.stringify({
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: hello,
    });
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: url.pathname,
          agent: false,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `Bearer ${user.apiKey}`,
          },
        },
        (res) => {
          res.pause();
          resolve({ res, destroy: () => req.destroy() });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  it('refuses a non-streamed answer past the bound: 502 in OpenAI shape, upstream cut, whole reservation billed', async () => {
    const user = await h.newUser({ chatRpm: 10_000, chatDailyTokens: DAILY_TOKENS });
    h.mock.reset();
    h.mock.setFault('oversize_body');
    try {
      const res = await post(user, { messages: [{ role: 'user', content: 'hello' }] });
      expect(res.status).toBe(502);
      expect(JSON.parse(res.text)).toMatchObject({
        error: { code: 'upstream_error', type: 'api_error' },
      });
    } finally {
      h.mock.setFault(null);
    }
    // Keyward hung up instead of reading the rest.
    await eventually(() => h.mock.abortedRequests === 1);
    // Upstream answered 200: it may have generated to the cap, so the reservation is billed.
    await eventually(async () => (await billed(user)).requests === 1);
    expect((await billed(user)).tokens).toBe(DAILY_TOKENS);
  }, 60_000);

  it.each(['/v1/chat/completions', '/api/v1/chat'])(
    'answers a non-streamed 200 cut mid-body with 502 on %s, billing the whole reservation',
    async (path) => {
      const user = await h.newUser({ chatRpm: 10_000, chatDailyTokens: DAILY_TOKENS });
      h.mock.reset();
      h.mock.setFault('cut_body');
      try {
        const messages = [{ role: 'user', content: 'hello' }];
        const res = await sendRaw(h.t.url!, {
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${user.apiKey}` },
          body: JSON.stringify(
            path === '/api/v1/chat' ? { messages } : { model: 'gpt-4o-mini', messages },
          ),
          timeoutMs: 20_000,
        });
        expect(res.status).toBe(502);
        expect(res.text).not.toMatch(/chatcmpl-|Mock reply|socket|undici/i);
      } finally {
        h.mock.setFault(null);
      }
      await eventually(async () => (await billed(user)).requests === 1);
      expect((await billed(user)).tokens).toBe(DAILY_TOKENS);
    },
  );

  it('relays a long stream whole to a slow reader, and bills upstream’s usage', async () => {
    const user = await h.newUser({ chatRpm: 10_000, chatDailyTokens: 1_000_000 });
    h.mock.reset();
    h.mock.setFault('long_stream');
    const { res } = await openStream(user).finally(() => h.mock.setFault(null));
    expect(res.statusCode).toBe(200);
    let text = '';
    let reads = 0;
    res.setEncoding('utf8');
    const ended = new Promise((resolve) => res.once('end', resolve));
    // Reads a little, stops for a while (the sockets fill, Keyward waits for 'drain'), again.
    res.on('data', (chunk: string) => {
      text += chunk;
      reads += 1;
      if (reads % 20 === 0 && reads <= 100) {
        res.pause();
        setTimeout(() => res.resume(), 100);
      }
    });
    res.resume();
    await ended;

    const events = text.split('\n\n').filter((event) => event.startsWith('data: '));
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map(
      (event) =>
        JSON.parse(event.slice('data: '.length)) as {
          choices: { delta: { content?: string } }[];
          usage?: { total_tokens: number } | null;
        },
    );
    // Every chunk, in order: the reply's pieces over and over.
    const contents = chunks.map((chunk) => chunk.choices[0]?.delta.content);
    const pieces = contents.filter((content) => content !== undefined && content !== '');
    expect(pieces).toHaveLength(LONG_STREAM_CHUNKS);
    const reply = pieces.slice(0, pieces.indexOf(pieces[0], 1)).join('');
    expect(reply).toBe('Mock reply to: one two three four five six seven eight nine');
    const usage = h.mock.reportedUsage.at(-1)?.usage as { total_tokens: number };
    expect(chunks.at(-1)?.usage?.total_tokens).toBe(usage.total_tokens);
    await eventually(async () => (await billed(user)).requests === 1);
    expect((await billed(user)).tokens).toBe(usage.total_tokens);
  }, 30_000);

  it('a client that stops reading, then leaves: billed once, no upstream connection left open', async () => {
    const user = await h.newUser({ chatRpm: 10_000, chatDailyTokens: 1_000_000 });
    h.mock.reset();
    h.mock.setFault('long_stream');
    const stream = await openStream(user).finally(() => h.mock.setFault(null));
    expect(stream.res.statusCode).toBe(200);
    // Never read: Keyward's writes stall, then upstream's.
    await new Promise((resolve) => setTimeout(resolve, 300));
    stream.destroy();
    // Either cut mid-body or (on a fast machine) already complete: never billed twice, never
    // left unbilled.
    await eventually(async () => (await billed(user)).requests === 1, 5000);
    expect((await billed(user)).tokens).toBeGreaterThan(0);
    await eventually(() => h.mock.openConnections() <= 1, 5000);
  }, 30_000);
});
