import OpenAI from 'openai';
import { promptTokenCeiling } from '../src/chat/token-estimate';
import { UsageService } from '../src/usage/usage.service';
import {
  type ChatHarness,
  type ChatUser,
  eventually,
  startChatHarness,
} from './support/chat-harness';
import { sendRaw } from './support/raw-http';

/**
 * Ways past the "hard daily budget" found by the security review (issue 14): calls that time
 * out or lose their client billed a few tokens, streams cut short counted CJK text at a
 * quarter of its tokens, images reserved far less than they cost, and image URLs led the
 * upstream into private networks. Each test is the attack, through the real `openai` SDK or
 * raw HTTP, against the mock upstream.
 */
const TIMEOUT_MS = 1500;
const PROMPT = 'Tell me a long story about a lighthouse keeper.';

describe('Budgets under attack', () => {
  let h: ChatHarness;

  beforeAll(async () => {
    h = await startChatHarness(
      { UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS) },
      { slowMs: 10_000, streamChunkDelayMs: 5 },
    );
  });
  afterAll(() => h?.close(), 30_000);
  afterEach(() => h.mock.setFault(null));

  const usage = async (user: ChatUser) =>
    (await h.t.app.get(UsageService).own({ userId: user.id, authMethod: 'jwt' })).totals;

  const post = (user: ChatUser, body: object) =>
    sendRaw(h.t.url!, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.apiKey}` },
      body: JSON.stringify(body),
      timeoutMs: 20_000,
    });

  /** What one non-streamed request with this prompt and cap holds: prompt ceiling + cap. */
  const reservationOf = (maxTokens: number) =>
    promptTokenCeiling({ messages: [{ content: PROMPT }] }) + maxTokens;

  describe('timeouts and disconnects', () => {
    it('bills the whole reservation of calls that pass the deadline: a dozen in parallel cannot overspend', async () => {
      const budget = 50_000;
      const user = await h.newUser({ chatRpm: 1000, chatDailyTokens: budget });
      h.mock.setFault('slow_headers');
      const answers = await Promise.all(
        Array.from({ length: 12 }, () =>
          post(user, {
            model: 'gpt-4o-mini',
            max_tokens: 16_000,
            messages: [{ role: 'user', content: PROMPT }],
          }),
        ),
      );
      const timedOut = answers.filter((res) => res.status === 504).length;
      // The budget admitted what it could hold (the last one clamped to what was left); the
      // rest were refused before any upstream call.
      expect(timedOut).toBeGreaterThanOrEqual(Math.floor(budget / reservationOf(16_000)));
      expect(answers.filter((res) => res.status === 429)).toHaveLength(12 - timedOut);
      await eventually(async () => (await usage(user)).requests === timedOut);
      // Each timed-out call is billed as if upstream ran it to its cap: the whole budget is
      // spent (before: a few prompt tokens each, and the budget was free again).
      expect((await usage(user)).totalTokens).toBe(budget);
      h.mock.setFault(null);
      const next = await post(user, {
        model: 'gpt-4o-mini',
        max_tokens: 16_000,
        messages: [{ role: 'user', content: PROMPT }],
      });
      expect(next.status).toBe(429);
      expect(JSON.parse(next.text).error.message).toContain('used up');
    });

    it('bills the whole reservation when upstream answered 2xx and the body broke', async () => {
      const user = await h.newUser({ chatRpm: 1000, chatDailyTokens: 100_000 });
      h.mock.setFault('invalid_json');
      const res = await post(user, {
        model: 'gpt-4o-mini',
        max_tokens: 8000,
        messages: [{ role: 'user', content: PROMPT }],
      });
      expect(res.status).toBe(502);
      await eventually(async () => (await usage(user)).requests === 1);
      expect((await usage(user)).totalTokens).toBe(reservationOf(8000));
    });

    it('bills the whole reservation when the client leaves after the call went upstream (openai SDK abort)', async () => {
      const user = await h.newUser({ chatRpm: 1000, chatDailyTokens: 100_000 });
      const client: OpenAI = h.client(user.apiKey);
      h.mock.reset();
      h.mock.setFault('slow_headers');
      const controller = new AbortController();
      const call = client.chat.completions.create(
        {
          model: 'gpt-4o-mini',
          max_tokens: 12_000,
          messages: [{ role: 'user', content: PROMPT }],
        },
        { signal: controller.signal },
      );
      const outcome = call.then(
        () => 'answered',
        (error: unknown) => (error instanceof OpenAI.APIUserAbortError ? 'aborted' : error),
      );
      // Upstream has the request (it is "generating") when the client walks away.
      await eventually(() => h.mock.requests.some((r) => r.path === '/v1/chat/completions'));
      controller.abort();
      expect(await outcome).toBe('aborted');
      await eventually(async () => (await usage(user)).requests === 1, 5000);
      expect((await usage(user)).totalTokens).toBe(reservationOf(12_000));
    });
  });

  describe('streams cut short', () => {
    // Japanese with spaces between phrases: the mock echoes it in several chunks, then resets.
    const japanese = Array.from({ length: 12 }, () => '東京は日本の首都であり多くの人が住む').join(
      ' ',
    );

    it('bills relayed CJK text and the CJK prompt at tokenizer rate, not characters/4', async () => {
      const user = await h.newUser({ chatRpm: 1000, chatDailyTokens: 200_000 });
      h.mock.setFault('reset_mid_stream');
      const res = await post(user, {
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: japanese }],
      });
      expect(res.status).toBe(200);
      const relayed = res.text
        .split('\n\n')
        .filter((event) => event.startsWith('data: {'))
        .map(
          (event) => JSON.parse(event.slice(6)) as { choices?: { delta?: { content?: string } }[] },
        )
        .map((chunk) => chunk.choices?.[0]?.delta?.content ?? '')
        .join('');
      const cjk = [...relayed].filter((c) => /\p{Script=Han}|\p{Script=Hiragana}/u.test(c)).length;
      expect(cjk).toBeGreaterThan(20);
      await eventually(async () => (await usage(user)).requests === 1);
      const billed = await usage(user);
      // gpt-4o's own tokenizer needs ~0.7 tokens per such character; chars/4 billed 0.25.
      expect(billed.completionTokens).toBeGreaterThanOrEqual(Math.ceil(cjk * 0.7));
      const promptChars = [...japanese].filter((c) => c !== ' ').length;
      expect(billed.promptTokens).toBeGreaterThanOrEqual(Math.ceil(promptChars * 0.7));
    });
  });

  describe('images', () => {
    const image = (url = 'https://images.example.com/photo.png') => ({
      type: 'image_url',
      image_url: { url, detail: 'high' },
    });
    const withImages = (count: number, model = 'gpt-4o-mini', url?: string) => ({
      model,
      max_tokens: 1,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Describe these.' },
            ...Array.from({ length: count }, () => image(url)),
          ],
        },
      ],
    });

    it('refuses 60 images with max_tokens 1 (CHAT_MAX_IMAGES, default 10) before upstream', async () => {
      const user = await h.newUser({ chatRpm: 1000, chatDailyTokens: 10_000_000 });
      h.mock.reset();
      const res = await post(user, withImages(60));
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).error.message).toContain('At most 10 images');
      expect(h.mock.requests).toHaveLength(0);
      expect((await post(user, withImages(10))).status).toBe(200);
    });

    it('reserves the model’s worst case per image: 3 high-detail images on gpt-4o-mini do not fit 100k', async () => {
      const user = await h.newUser({ chatRpm: 1000, chatDailyTokens: 100_000 });
      // 3 × 48,169 on gpt-4o-mini (before: 3 × 3,000 was admitted).
      const refused = await post(user, withImages(3));
      expect(refused.status).toBe(429);
      // The same images on gpt-4o cost 3 × 1,445 at most: admitted.
      expect((await post(user, withImages(3, 'gpt-4o'))).status).toBe(200);
    });

    it.each([
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'https://169.254.169.254/latest/meta-data/',
      'https://[::ffff:169.254.169.254]/',
      'https://[64:ff9b::a9fe:a9fe]/',
      'https://2852039166/',
      'https://0251.0376.0251.0376/',
      'https://localhost/x.png',
      'https://10.1.2.3/x.png',
      'file:///etc/passwd',
    ])('refuses the image URL %s with 400 and never calls upstream', async (url) => {
      const user = await h.newUser({ chatRpm: 1000, chatDailyTokens: 1_000_000 });
      h.mock.reset();
      const res = await post(user, withImages(1, 'gpt-4o', url));
      expect(res.status).toBe(400);
      const error = JSON.parse(res.text).error as { param: string; type: string };
      expect(error.type).toBe('invalid_request_error');
      expect(error.param).toBe('messages[0].content[1].image_url.url');
      expect(h.mock.requests).toHaveLength(0);
    });

    it('accepts data: images and public https URLs', async () => {
      const user = await h.newUser({ chatRpm: 1000, chatDailyTokens: 1_000_000 });
      for (const url of ['data:image/png;base64,iVBORw0KGgo=', 'https://8.8.8.8/cat.png']) {
        expect((await post(user, withImages(1, 'gpt-4o', url))).status).toBe(200);
      }
    });
  });
});

describe('CHAT_MAX_IMAGES', () => {
  it('caps image parts per request at the configured number', async () => {
    const h = await startChatHarness({ CHAT_MAX_IMAGES: '2' });
    try {
      const user = await h.newUser({ chatRpm: 1000, chatDailyTokens: 10_000_000 });
      const send = (count: number) =>
        h.client(user.apiKey).chat.completions.create({
          model: 'gpt-4o',
          messages: [
            {
              role: 'user',
              content: Array.from({ length: count }, () => ({
                type: 'image_url' as const,
                image_url: { url: 'https://images.example.com/a.png' },
              })),
            },
          ],
        });
      await expect(send(2)).resolves.toMatchObject({ object: 'chat.completion' });
      await expect(send(3)).rejects.toMatchObject({ status: 400 });
    } finally {
      await h.close();
    }
  });
});
