import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { FaultMode } from '../tools/mock-openai/mock-openai';
import { type ChatHarness, type ChatUser, startChatHarness } from './support/chat-harness';

/** The server's key in this suite: it must never surface anywhere a client or a log can see. */
const CANARY = 'sk-canary-7f3a9e1c5b2d4f6a8e0c1b3d5f7a9c2e';
const ROTATED = 'sk-rotated-2b4d6f8a0c1e3a5c7e9b1d3f5a7c9e0b';
const hello = [{ role: 'user' as const, content: 'Tell me about lighthouses' }];

type Outcome = {
  status?: number;
  code?: unknown;
  param?: unknown;
  retryAfter?: string | null;
  body: string;
  headers: string;
};

/** Calls Keyward the way an SDK user would, and keeps everything the client could see. */
async function outcomeOf(client: OpenAI, stream: boolean): Promise<Outcome> {
  try {
    if (!stream) {
      const { data, response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: hello })
        .withResponse();
      return {
        status: response.status,
        body: JSON.stringify(data),
        headers: JSON.stringify([...response.headers]),
      };
    }
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: hello, stream: true })
      .withResponse();
    const chunks: ChatCompletionChunk[] = [];
    try {
      for await (const chunk of data) chunks.push(chunk);
    } catch (error) {
      const e = error as InstanceType<typeof OpenAI.APIError>;
      return {
        status: response.status,
        code: e.code,
        body: JSON.stringify({ chunks, error: e.error, message: e.message }),
        headers: JSON.stringify([...response.headers]),
      };
    }
    return {
      status: response.status,
      body: JSON.stringify(chunks),
      headers: JSON.stringify([...response.headers]),
    };
  } catch (error) {
    if (!(error instanceof OpenAI.APIError)) throw error;
    return {
      status: error.status,
      code: error.code,
      param: error.param,
      retryAfter: error.headers?.get('retry-after') ?? null,
      body: JSON.stringify({ error: error.error, message: error.message }),
      headers: JSON.stringify([...(error.headers ?? [])]),
    };
  }
}

describe('Chat upstream faults (docs/reference.md "Chat" mapping) and the key canary', () => {
  let h: ChatHarness;
  let user: ChatUser;
  let client: OpenAI;
  let keyDir: string;
  let keyFile: string;
  const seen: Outcome[] = [];

  beforeAll(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'keyward-key-'));
    keyFile = join(keyDir, 'openai-key');
    writeFileSync(keyFile, `${CANARY}\n`);
    // The key comes from a file (Docker/Kubernetes secret): rotation is re-read on a 401.
    h = await startChatHarness(
      {
        OPENAI_API_KEY: '',
        OPENAI_API_KEY_FILE: keyFile,
        UPSTREAM_TIMEOUT_MS: '1000',
      },
      // Not 1, Keyward's own fallback: the test must tell a derived wait from the fallback.
      { rateLimitRetryAfter: 7 },
    );
    h.mock.setApiKey(CANARY);
    user = await h.newUser({ chatRpm: 1000 });
    client = h.client(user.apiKey);
  }, 30_000);
  afterEach(() => h.mock.reset());
  afterAll(async () => {
    await h.close();
    rmSync(keyDir, { recursive: true, force: true });
  }, 30_000);

  async function under(fault: FaultMode | null, stream: boolean): Promise<Outcome> {
    h.mock.setFault(fault);
    const outcome = await outcomeOf(client, stream);
    seen.push(outcome);
    return outcome;
  }

  it('uses the key from the file and succeeds (stream and not)', async () => {
    expect((await under(null, false)).status).toBe(200);
    expect((await under(null, true)).status).toBe(200);
    expect(h.mock.requests[0].headers.authorization).toBe(`Bearer ${CANARY}`);
  });

  it.each([
    ['unauthorized', 502, 'upstream_error'],
    ['server_error', 502, 'upstream_error'],
    ['bad_gateway', 502, 'upstream_error'],
    ['reset_before_headers', 502, 'upstream_error'],
    ['invalid_json', 502, 'upstream_error'],
    ['slow_headers', 504, 'upstream_timeout'],
    ['slow_loris', 504, 'upstream_timeout'],
    ['reset_mid_stream', 502, 'upstream_error'],
  ] as const)('maps %s (non-streaming) to %i %s', async (fault, status, code) => {
    const outcome = await under(fault, false);
    expect(outcome).toMatchObject({ status, code });
  });

  it('maps an upstream 429 to 429 with our own Retry-After', async () => {
    const outcome = await under('rate_limit', false);
    expect(outcome).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    expect(outcome.retryAfter).toBe('7');
    expect(outcome.headers).not.toContain('x-ratelimit');
  });

  it.each([
    ['unauthorized', 502],
    ['rate_limit', 429],
    ['server_error', 502],
    ['bad_gateway', 502],
    ['reset_before_headers', 502],
    ['invalid_json', 502],
    ['slow_loris', 502],
    ['slow_headers', 504],
  ] as const)('maps %s before the first byte of a stream to %i', async (fault, status) => {
    expect((await under(fault, true)).status).toBe(status);
  });

  it.each([
    ['reset_mid_stream', 'upstream_error'],
    ['malformed_sse', 'upstream_error'],
    ['never_ending_stream', 'upstream_timeout'],
  ] as const)(
    'ends a stream broken by %s with an error event (the SDK raises %s)',
    async (fault, code) => {
      const outcome = await under(fault, true);
      expect(outcome.status).toBe(200);
      expect(outcome.code).toBe(code);
    },
  );

  it('never echoes upstream error text', () => {
    // Filled by the fault cases above: an empty record would check nothing.
    expect(seen.length).toBeGreaterThan(20);
    const everything = seen.map((o) => o.body).join('\n');
    expect(everything).not.toContain('Incorrect API key');
    expect(everything).not.toContain('cloudflare');
    expect(everything).not.toContain('Rate limit reached');
    expect(everything).not.toContain('had an error while processing');
  });

  it('re-reads a rotated key file once on an upstream 401', async () => {
    h.mock.setApiKey(ROTATED);
    writeFileSync(keyFile, `${ROTATED}\n`);
    const outcome = await under(null, false);
    expect(outcome.status).toBe(200);
    const auths = h.mock.requests.map((r) => r.headers.authorization);
    expect(auths).toEqual([`Bearer ${CANARY}`, `Bearer ${ROTATED}`]);
    // Back to the canary for the leak check below.
    h.mock.setApiKey(CANARY);
    writeFileSync(keyFile, `${CANARY}\n`);
    expect((await under(null, false)).status).toBe(200);
  });

  it('a rotated key reaches the SDK-built calls too (embeddings: the client is rebuilt)', async () => {
    // The first embeddings call loads the SDK and builds its client with the canary.
    const first = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'a' });
    expect(first.data).toHaveLength(1);
    h.mock.setApiKey(ROTATED);
    writeFileSync(keyFile, `${ROTATED}\n`);
    const second = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'b' });
    expect(second.data).toHaveLength(1);
    const auths = h.mock.requests.map((r) => r.headers.authorization);
    expect(auths).toEqual([`Bearer ${CANARY}`, `Bearer ${CANARY}`, `Bearer ${ROTATED}`]);
    h.mock.setApiKey(CANARY);
    writeFileSync(keyFile, `${CANARY}\n`);
    expect((await under(null, false)).status).toBe(200);
  });

  it('CANARY: the server key appears in no response body, header or log line', () => {
    expect(seen.length).toBeGreaterThan(20);
    for (const outcome of seen) {
      expect(outcome.body).not.toContain(CANARY);
      expect(outcome.headers).not.toContain(CANARY);
      expect(outcome.body).not.toContain(CANARY.slice(0, 12));
    }
    // At least one access line per upstream exchange above: the scan covers them all.
    const accessLines = h.t.logs.filter((line) => line.includes('"statusCode"'));
    expect(accessLines.length).toBeGreaterThanOrEqual(seen.length);
    for (const line of h.t.logs) {
      expect(line).not.toContain(CANARY);
      expect(line).not.toContain(CANARY.slice(-12));
      expect(line).not.toContain(ROTATED);
    }
  });
});
