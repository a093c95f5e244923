import { once } from 'node:events';
import { connect } from 'node:net';
import type { FaultMode } from '../tools/mock-openai/mock-openai';
import { UsageService } from '../src/usage/usage.service';
import {
  type ChatHarness,
  type ChatUser,
  eventually,
  startChatHarness,
} from './support/chat-harness';
import { type RawResponse, sendRaw } from './support/raw-http';

/**
 * What chat-faults.e2e-spec.ts does not already pin down (it maps each fault to a status
 * through the SDK): every fault ends within the deadline on all three chat paths, started
 * streams are billed, a failed request gives its budget reservation back (or bills all of
 * it when upstream may have run a non-streamed call to its cap), the upstream
 * exchange is really cancelled at the deadline, and nothing leaks — no socket to the
 * upstream, no timer, no handle — once the faults are over.
 */
const TIMEOUT_MS = 1500;
/** Scheduling slack on a loaded 2-core machine; the deadline itself is TIMEOUT_MS. */
const SLACK_MS = 1500;
/** Small enough that one leaked worst-case reservation makes the next request a 429. */
const DAILY_TOKENS = 6000;

type Path = 'v1' | 'v1-stream' | 'rest';
interface Expectation {
  readonly status: number;
  /** For streams that started: the code of the error event that ends them. */
  readonly streamError?: 'upstream_error' | 'upstream_timeout';
  /** The upstream exchange must have been cut by Keyward (deadline), not left running. */
  readonly upstreamAborted?: boolean;
  /**
   * Tokens billed: upstream may have worked on it (it answered 2xx, the deadline passed, or
   * the stream started). False: refused before upstream took it on, billed nothing.
   */
  readonly billed: boolean;
  /**
   * A non-streamed call upstream may have run (deadline, 2xx then a broken body) bills its
   * whole reservation: with no `max_tokens`, that is the whole (fresh) daily budget.
   */
  readonly wholeReservation?: boolean;
}

// The mock's faults (tools/mock-openai) on each path. never_ending_stream and malformed_sse
// only affect streams; a non-streamed request under them is an ordinary success.
const CASES: [FaultMode, Record<Path, Expectation>][] = [
  [
    'reset_before_headers',
    {
      v1: { status: 502, billed: false },
      'v1-stream': { status: 502, billed: false },
      rest: { status: 502, billed: false },
    },
  ],
  [
    'reset_mid_stream',
    {
      // Non-streamed: the connection drops before any answer, like a refused connection.
      v1: { status: 502, billed: false },
      'v1-stream': { status: 200, streamError: 'upstream_error', billed: true },
      rest: { status: 502, billed: false },
    },
  ],
  [
    'malformed_sse',
    {
      v1: { status: 200, billed: true },
      'v1-stream': { status: 200, streamError: 'upstream_error', billed: true },
      rest: { status: 200, billed: true },
    },
  ],
  [
    'never_ending_stream',
    {
      v1: { status: 200, billed: true },
      'v1-stream': {
        status: 200,
        streamError: 'upstream_timeout',
        upstreamAborted: true,
        billed: true,
      },
      rest: { status: 200, billed: true },
    },
  ],
  [
    // 200 with a truncated JSON body (or JSON where SSE was asked for): upstream did the work.
    'invalid_json',
    {
      v1: { status: 502, billed: true, wholeReservation: true },
      'v1-stream': { status: 502, billed: true },
      rest: { status: 502, billed: true, wholeReservation: true },
    },
  ],
  [
    'slow_headers',
    {
      v1: { status: 504, upstreamAborted: true, billed: true, wholeReservation: true },
      'v1-stream': { status: 504, upstreamAborted: true, billed: true },
      rest: { status: 504, upstreamAborted: true, billed: true, wholeReservation: true },
    },
  ],
  [
    'slow_loris',
    {
      v1: { status: 504, upstreamAborted: true, billed: true, wholeReservation: true },
      // A JSON body where SSE was expected: refused at the headers, the trickle is cut.
      'v1-stream': { status: 502, upstreamAborted: true, billed: true },
      rest: { status: 504, upstreamAborted: true, billed: true, wholeReservation: true },
    },
  ],
];

type ResourceCounts = Record<string, number>;

function activeResources(): ResourceCounts {
  const counts: ResourceCounts = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** Types whose count grew past the baseline (sockets, timers, file handles...). */
function grownSince(baseline: ResourceCounts): string[] {
  const now = activeResources();
  return Object.entries(now)
    .filter(([type, count]) => count > (baseline[type] ?? 0))
    .map(([type, count]) => `${type}: ${baseline[type] ?? 0} → ${count}`);
}

describe('Upstream faults: deadlines, billing, cancellation and leaks', () => {
  let h: ChatHarness;
  let user: ChatUser;
  let baseline: ResourceCounts;
  let baselineUpstreamSockets: number;

  beforeAll(async () => {
    h = await startChatHarness({ UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS) }, { slowMs: 10_000 });
    user = await h.newUser({ chatRpm: 10_000, chatDailyTokens: DAILY_TOKENS });
    // Warm-up on every path, three at a time, so the upstream keep-alive pool, the
    // metrics and the lazily created timers all exist before the baseline is taken.
    for (let round = 0; round < 2; round += 1) {
      await Promise.all((['v1', 'v1-stream', 'rest'] as const).map((path) => chat(path)));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    baseline = activeResources();
    baselineUpstreamSockets = h.mock.openConnections();
  }, 60_000);

  afterAll(() => h?.close(), 30_000);

  function chat(path: Path, as: ChatUser = user): Promise<RawResponse> {
    const messages = [{ role: 'user', content: 'one two three four five six seven eight nine' }];
    const body =
      path === 'rest'
        ? { messages }
        : { model: 'gpt-4o-mini', messages, ...(path === 'v1-stream' ? { stream: true } : {}) };
    return sendRaw(h.t.url!, {
      method: 'POST',
      path: path === 'rest' ? '/api/v1/chat' : '/v1/chat/completions',
      // Keyward forwards no client header upstream, so faults go through the mock's switch.
      headers: { 'content-type': 'application/json', authorization: `Bearer ${as.apiKey}` },
      body: JSON.stringify(body),
      timeoutMs: TIMEOUT_MS + SLACK_MS + 5000,
    });
  }

  async function billed(as: ChatUser = user): Promise<{ requests: number; tokens: number }> {
    const report = await h.t.app.get(UsageService).own({ userId: as.id, authMethod: 'jwt' });
    return { requests: report.totals.requests, tokens: report.totals.totalTokens };
  }

  const rows = CASES.flatMap(([fault, byPath]) =>
    (Object.keys(byPath) as Path[]).map((path) => [fault, path, byPath[path]] as const),
  );

  it.each(rows)(
    '%s on %s: ends in time, billed if upstream took it on, budget returned',
    async (fault, path, expected) => {
      // A fresh budget per case: a case may spend all of it.
      const caseUser = await h.newUser({ chatRpm: 10_000, chatDailyTokens: DAILY_TOKENS });
      const before = await billed(caseUser);
      h.mock.reset();
      h.mock.setFault(fault);
      const res = await chat(path, caseUser);
      h.mock.setFault(null);

      // A terminating answer within the deadline (one retry included: docs/reference.md
      // "Wire details": UPSTREAM_TIMEOUT_MS bounds the whole upstream call, its retry included).
      expect(res.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(res.status).toBe(expected.status);
      if (res.status >= 400) {
        // The documented format of the path, and no upstream detail.
        const body = JSON.parse(res.text) as Record<string, unknown>;
        if (path === 'rest')
          expect(body).toMatchObject({ status: res.status, type: expect.any(String) });
        else expect(body).toMatchObject({ error: { code: expect.any(String), type: 'api_error' } });
        expect(res.text).not.toMatch(/chatcmpl-|ECONNRESET|socket|undici|mock/i);
      }
      if (expected.streamError) {
        // The stream ends with an OpenAI-shaped error event the SDKs raise, then closes.
        const events = res.text.split('\n\n').filter((event) => event.startsWith('data: '));
        const last = JSON.parse(events[events.length - 1].slice('data: '.length)) as {
          error?: { code?: string };
        };
        expect(last.error?.code).toBe(expected.streamError);
      }
      // Every admitted request settles exactly once (docs/reference.md "Chat": a stream that
      // started is billed, whatever ended it); tokens only when upstream may have worked on it.
      await eventually(async () => (await billed(caseUser)).requests === before.requests + 1);
      const after = await billed(caseUser);
      if (expected.wholeReservation) expect(after.tokens - before.tokens).toBe(DAILY_TOKENS);
      else if (expected.billed) expect(after.tokens).toBeGreaterThan(before.tokens);
      else expect(after.tokens).toBe(before.tokens);
      if (expected.upstreamAborted) {
        // Keyward hung up on the upstream at its deadline instead of leaving it running.
        await eventually(() => h.mock.abortedRequests >= 1);
      }
      const next = await chat('v1', caseUser);
      if (expected.wholeReservation) {
        // Spent, not held: the refusal says the budget is used up, not held in flight.
        expect(next.status).toBe(429);
        expect(next.text).toContain('used up');
      } else {
        // The reservation came back: with one worst-case reservation leaked, the daily
        // budget (DAILY_TOKENS) would have nothing left and this would be a 429.
        expect({ fault, path, status: next.status }).toEqual({ fault, path, status: 200 });
      }
    },
    20_000,
  );

  it('never bills a request twice: one usage count per request that reached upstream', async () => {
    const before = await billed();
    // One after the other: concurrent ones would each reserve the whole small budget (429).
    for (const path of ['v1', 'rest', 'v1-stream'] as const)
      expect((await chat(path)).status).toBe(200);
    await eventually(async () => (await billed()).requests === before.requests + 3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await billed()).requests).toBe(before.requests + 3);
  });

  it('leaves no upstream socket, timer or handle behind once the faults are over', async () => {
    h.mock.setFault(null);
    let grown: string[] = [];
    try {
      await eventually(() => {
        grown = grownSince(baseline);
        return grown.length === 0 && h.mock.openConnections() <= baselineUpstreamSockets;
      }, 8000);
    } catch {
      throw new Error(
        `leaked: ${JSON.stringify({ grown, upstreamSockets: h.mock.openConnections(), baselineUpstreamSockets })}`,
      );
    }
    expect(h.mock.openConnections()).toBeLessThanOrEqual(baselineUpstreamSockets);
  }, 15_000);

  it('the leak check can fail: an extra timer or socket is seen', async () => {
    // Against a fresh snapshot: other timers (Redis reconnects, polls) come and go.
    const before = activeResources();
    const timer = setInterval(() => undefined, 60_000);
    try {
      expect(grownSince(before).some((line) => line.startsWith('Timeout'))).toBe(true);
    } finally {
      clearInterval(timer);
    }
    const beforeSocket = activeResources();
    const socket = connect(Number(new URL(h.t.url!).port), '127.0.0.1');
    try {
      await once(socket, 'connect');
      expect(grownSince(beforeSocket).some((line) => line.startsWith('TCPSocketWrap'))).toBe(true);
    } finally {
      socket.destroy();
    }
  });
});
