import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import OpenAI from 'openai';
import request from 'supertest';
import {
  type MockOpenAI,
  type MockOpenAIOptions,
  startMockOpenAI,
} from '../../tools/mock-openai/mock-openai';
import type { UsageReportDto } from '../../src/usage/dto/usage.dto';
import { UsersService } from '../../src/users/users.service';
import { createTestApp, type TestApp, uniqueName } from './test-app';

export const PASSWORD = 'a-long-Unusual-pass-42';

export interface ChatUser {
  readonly id: string;
  readonly username: string;
  /** A Bearer JWT from the token endpoint (has every scope of the user). */
  readonly jwt: string;
  /** A `kw_` API key with the `chat` and `usage` scopes. */
  readonly apiKey: string;
}

export interface ChatHarness {
  readonly t: TestApp;
  readonly mock: MockOpenAI;
  /** Keyward's OpenAI-compatible base URL: `http://127.0.0.1:PORT/v1`. */
  readonly baseURL: string;
  newUser(options?: {
    roles?: ('user' | 'admin')[];
    chatRpm?: number;
    chatDailyTokens?: number;
  }): Promise<ChatUser>;
  /** The real `openai` SDK pointed at Keyward, no retries (tests see every answer). */
  client(apiKey: string, options?: Partial<ConstructorParameters<typeof OpenAI>[0]>): OpenAI;
  /** The user's own usage report for today (`GET /api/v1/usage?days=1` with their API key). */
  usageToday(user: ChatUser): Promise<UsageReportDto>;
  close(): Promise<void>;
}

export const MOCK_KEY = 'sk-mock-keyward-upstream-0001';

/** Keyward (real app, real pipeline) in front of the mock OpenAI server. */
export async function startChatHarness(
  env: Record<string, string> = {},
  mockOptions: MockOpenAIOptions = {},
): Promise<ChatHarness> {
  const mock = await startMockOpenAI({ apiKey: MOCK_KEY, ...mockOptions });
  let t: TestApp;
  let url: string;
  try {
    t = await createTestApp({
      OPENAI_API_KEY: MOCK_KEY,
      OPENAI_BASE_URL: mock.url,
      CHAT_MODELS: 'gpt-4o-mini,gpt-4o',
      UPSTREAM_TIMEOUT_MS: '1000',
      ...env,
    });
    url = await t.listen();
  } catch (error) {
    // A failed start must not leave the mock listening (Jest would never exit).
    await mock.close();
    throw error;
  }
  const users = t.app.get(UsersService);
  return {
    t,
    mock,
    baseURL: `${url}/v1`,
    async newUser(options = {}) {
      const username = uniqueName('chat');
      const user = await users.create({
        username,
        password: PASSWORD,
        roles: options.roles ?? ['user'],
      });
      if (options.chatRpm !== undefined || options.chatDailyTokens !== undefined) {
        await users.update(user.id, {
          chatRpm: options.chatRpm,
          chatDailyTokens: options.chatDailyTokens,
        });
      }
      const token = await request(t.server)
        .post('/api/v1/auth/token')
        .send({ grant_type: 'password', username, password: PASSWORD })
        .expect(200);
      const jwt = (token.body as { access_token: string }).access_token;
      const key = await request(t.server)
        .post('/api/v1/keys')
        .set('Authorization', `Bearer ${jwt}`)
        .send({ name: 'chat-tests', scopes: ['chat', 'usage'] })
        .expect(201);
      return { id: user.id, username, jwt, apiKey: (key.body as { key: string }).key };
    },
    client(apiKey, options = {}) {
      return new OpenAI({
        apiKey,
        baseURL: `${url}/v1`,
        maxRetries: 0,
        timeout: 10_000,
        ...options,
      });
    },
    async usageToday(user) {
      const res = await request(t.server)
        .get('/api/v1/usage?days=1')
        .set('Authorization', `Bearer ${user.apiKey}`)
        .expect(200);
      return res.body as UsageReportDto;
    },
    async close() {
      // Aborted test clients can leave a socket that never sends a request; Node counts it
      // as busy until headersTimeout, which would stall app.close() for a minute.
      t.app.getHttpServer().closeAllConnections();
      await t.close();
      await mock.close();
    },
  };
}

/** Polls until `predicate` holds (the server sees disconnects asynchronously). */
export async function eventually(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every chunk of an SDK stream, in order. */
export async function collect(
  stream: AsyncIterable<ChatCompletionChunk>,
): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** The streamed answer's text. */
export const streamedText = (chunks: ChatCompletionChunk[]) =>
  chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
