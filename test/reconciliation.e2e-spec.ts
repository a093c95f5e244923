import request from 'supertest';
import { BudgetService } from '../src/usage/budget.service';
import {
  type ChatHarness,
  type ChatUser,
  eventually,
  startChatHarness,
} from './support/chat-harness';

/** nano-USD per token (docs/pricing.md, the built-in table): input, cached input, output. */
const PRICES: Record<string, { input: number; cached: number; output: number }> = {
  'gpt-4o-mini': { input: 150, cached: 75, output: 600 },
  'text-embedding-3-small': { input: 20, cached: 20, output: 0 },
};

interface Figures {
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  reasoningTokens: number;
}

interface Row extends Figures {
  route: string;
  model: string;
  status: string;
  stream: boolean;
  costUsd: number;
}

/** The figures of an upstream `usage` object exactly as the mock sent it (chat, Responses, embeddings). */
function fromReported(usage: Record<string, unknown>): Figures {
  const u = usage as {
    prompt_tokens?: number;
    completion_tokens?: number;
    input_tokens?: number;
    output_tokens?: number;
    prompt_tokens_details?: { cached_tokens: number };
    completion_tokens_details?: { reasoning_tokens: number };
    input_tokens_details?: { cached_tokens: number };
    output_tokens_details?: { reasoning_tokens: number };
  };
  return {
    promptTokens: u.prompt_tokens ?? u.input_tokens ?? 0,
    cachedTokens:
      u.prompt_tokens_details?.cached_tokens ?? u.input_tokens_details?.cached_tokens ?? 0,
    completionTokens: u.completion_tokens ?? u.output_tokens ?? 0,
    reasoningTokens:
      u.completion_tokens_details?.reasoning_tokens ??
      u.output_tokens_details?.reasoning_tokens ??
      0,
  };
}

function nanos(model: string, f: Figures): number {
  const price = PRICES[model];
  return (
    (f.promptTokens - f.cachedTokens) * price.input +
    f.cachedTokens * price.cached +
    f.completionTokens * price.output
  );
}

/**
 * Issue 15's reconciliation: a mixed run through the real SDK — non-streamed and streamed chat,
 * a stream cut by upstream, cached prompts, reasoning, Responses JSON and SSE, embeddings, an
 * upstream failure and a client abort — after which the request log, the usage report and the
 * budget counter agree exactly with each other and with what the mock upstream reported.
 */
describe('Spend reconciliation (request log = usage report = budget = upstream)', () => {
  let h: ChatHarness;
  let admin: ChatUser;

  beforeAll(async () => {
    h = await startChatHarness({ REQUEST_LOG_FLUSH_MS: '20' });
    admin = await h.newUser({ roles: ['admin'] });
  }, 30_000);
  afterEach(() => h.mock.setFault(null));
  afterAll(() => h.close(), 30_000);

  it('agrees to the token and the nano-USD over a mixed run', async () => {
    const user = await h.newUser();
    const client = h.client(user.apiKey);
    /** What upstream reported per call, in call order (undefined: it reported nothing). */
    const expected: Array<{ route: string; model: string; reported?: Figures; status: string }> =
      [];
    const run = async (
      route: string,
      model: string,
      status: string,
      call: () => Promise<unknown>,
    ) => {
      const before = h.mock.reportedUsage.length;
      await call().catch(() => undefined);
      const reported = h.mock.reportedUsage.slice(before).at(-1)?.usage;
      expected.push({ route, model, status, reported: reported && fromReported(reported) });
    };
    const chat = (content: string) => [{ role: 'user' as const, content }];

    await run('/v1/chat/completions', 'gpt-4o-mini', '200', () =>
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: chat('plain question') }),
    );
    await run('/v1/chat/completions', 'gpt-4o-mini', '200', () =>
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: chat('cached and thoughtful [mock-cached:6] [mock-reasoning:40]'),
      }),
    );
    await run('/v1/chat/completions', 'gpt-4o-mini', '200', async () => {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: chat('a streamed answer [mock-cached:4] [mock-reasoning:12]'),
        stream: true,
      });
      for await (const chunk of stream) void chunk;
    });
    await run('/v1/responses', 'gpt-4o-mini', '200', () =>
      client.responses.create({
        model: 'gpt-4o-mini',
        input: 'responses json [mock-cached:5] [mock-reasoning:9]',
      }),
    );
    await run('/v1/responses', 'gpt-4o-mini', '200', async () => {
      const stream = await client.responses.create({
        model: 'gpt-4o-mini',
        input: 'responses sse [mock-reasoning:3]',
        stream: true,
      });
      for await (const event of stream) void event;
    });
    await run('/v1/embeddings', 'text-embedding-3-small', '200', () =>
      client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two three'] }),
    );
    h.mock.setFault('reset_mid_stream');
    await run('/v1/chat/completions', 'gpt-4o-mini', 'upstream_error', async () => {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: chat('this stream is cut by upstream after a few words of the answer'),
        stream: true,
      });
      for await (const chunk of stream) void chunk;
    });
    h.mock.setFault('server_error');
    await run('/v1/chat/completions', 'gpt-4o-mini', '502', () =>
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: chat('fails') }),
    );
    h.mock.setFault('never_ending_stream');
    await run('/v1/chat/completions', 'gpt-4o-mini', 'client_closed', async () => {
      const controller = new AbortController();
      const stream = await client.chat.completions.create(
        { model: 'gpt-4o-mini', messages: chat('the client leaves'), stream: true },
        { signal: controller.signal },
      );
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) {
          controller.abort();
          break;
        }
      }
    });
    h.mock.setFault(null);

    // The request log: one row per call, oldest first here.
    let rows: Row[] = [];
    await eventually(async () => {
      const res = await request(h.t.server)
        .get('/api/v1/admin/requests')
        .query({ userId: user.id })
        .set('Authorization', `Bearer ${admin.jwt}`)
        .expect(200);
      rows = (res.body as { requests: Row[] }).requests.reverse();
      return rows.length === expected.length;
    });
    for (const [index, want] of expected.entries()) {
      const row = rows[index];
      expect({ index, route: row.route, model: row.model, status: row.status }).toEqual({
        index,
        route: want.route,
        model: want.model,
        status: want.status,
      });
      const figures: Figures = {
        promptTokens: row.promptTokens,
        cachedTokens: row.cachedTokens,
        completionTokens: row.completionTokens,
        reasoningTokens: row.reasoningTokens,
      };
      // Where upstream reported usage, the row holds exactly that, and costs exactly its price.
      if (want.reported) expect({ index, ...figures }).toEqual({ index, ...want.reported });
      expect({ index, cost: Math.round(row.costUsd * 1e9) }).toEqual({
        index,
        cost: nanos(row.model, figures),
      });
    }
    // Cached and reasoning tokens were really exercised; the failure cost nothing; the cut
    // stream and the abort were billed (an estimate: upstream never reported their usage).
    expect(rows[1]).toMatchObject({ cachedTokens: 6, reasoningTokens: 40 });
    expect(rows[2]).toMatchObject({ stream: true, cachedTokens: 4, reasoningTokens: 12 });
    expect(rows[4]).toMatchObject({ stream: true, reasoningTokens: 3 });
    expect(expected[6].reported).toBeUndefined();
    expect(rows[6].promptTokens).toBeGreaterThan(0);
    expect(rows[7]).toMatchObject({ promptTokens: 0, completionTokens: 0, costUsd: 0 });
    expect(rows[8].promptTokens).toBeGreaterThan(0);

    const sum = (pick: (row: Row) => number) => rows.reduce((total, row) => total + pick(row), 0);
    const totalNanos = sum((row) => nanos(row.model, row));

    // The usage report: the same tokens and the same money.
    const usage = await request(h.t.server)
      .get('/api/v1/usage')
      .set('Authorization', `Bearer ${user.jwt}`)
      .expect(200);
    const totals = (usage.body as { totals: Figures & { requests: number; costUsd: number } })
      .totals;
    expect(totals).toMatchObject({
      requests: rows.length,
      promptTokens: sum((row) => row.promptTokens),
      cachedTokens: sum((row) => row.cachedTokens),
      completionTokens: sum((row) => row.completionTokens),
      reasoningTokens: sum((row) => row.reasoningTokens),
    });
    expect(Math.round(totals.costUsd * 1e9)).toBe(totalNanos);

    // The admin spend report: the same money.
    const spend = await request(h.t.server)
      .get('/api/v1/admin/spend')
      .query({ groupBy: 'user' })
      .set('Authorization', `Bearer ${admin.jwt}`)
      .expect(200);
    const series = (
      spend.body as { series: { key: string; points: { costUsd: number; requests: number }[] }[] }
    ).series.find((s) => s.key === user.id);
    expect(series?.points.reduce((total, p) => total + p.requests, 0)).toBe(rows.length);
    expect(Math.round((series?.points.reduce((t, p) => t + p.costUsd, 0) ?? 0) * 1e9)).toBe(
      totalNanos,
    );

    // The budget counter: what a reservation sees as spent today is the same token total.
    const huge = 1e12;
    const probe = await h.t.app.get(BudgetService).tryReserve(user.id, huge, huge, 1);
    expect(probe.granted).toBe(false);
    expect(huge - (probe.granted ? 0 : probe.remaining)).toBe(
      sum((row) => row.promptTokens + row.completionTokens),
    );
  });
});
