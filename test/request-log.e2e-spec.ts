import { randomUUID } from 'node:crypto';
import {
  type ChatHarness,
  type ChatUser,
  eventually,
  startChatHarness,
} from './support/chat-harness';

/**
 * Per-request log lines written away from the access line (an upstream failure, a stream
 * that ended early) carry the request id as a `reqId` field, so a search by request id finds
 * them, and their message is a fixed text (no id, no JSON inside it).
 */
describe('Per-request log lines', () => {
  let h: ChatHarness;
  let user: ChatUser;

  beforeAll(async () => {
    h = await startChatHarness();
    user = await h.newUser({ chatRpm: 1000 });
  }, 30_000);
  afterEach(() => h.mock.reset());
  afterAll(() => h.close(), 30_000);

  const linesOf = (requestId: string) =>
    h.t.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.reqId === requestId);
  /** The line with this message for the request, once it is written. */
  async function lineOf(requestId: string, msg: string): Promise<Record<string, unknown>> {
    await eventually(() => linesOf(requestId).some((line) => line.msg === msg));
    return linesOf(requestId).find((line) => line.msg === msg)!;
  }

  async function chat(stream: boolean): Promise<{ requestId: string; status: number }> {
    const requestId = `log-probe-${randomUUID()}`;
    const res = await fetch(`${h.baseURL}/chat/completions`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${user.apiKey}`,
        'Content-Type': 'application/json',
        'X-Request-Id': requestId,
      },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    await res.text();
    return { requestId, status: res.status };
  }

  it('puts the request id on the upstream-failure line as a field', async () => {
    h.mock.setFault('server_error');
    const { requestId, status } = await chat(false);
    expect(status).toBe(502);
    const line = await lineOf(requestId, 'upstream call failed');
    expect(line).toMatchObject({
      level: 40,
      mappedTo: 'upstream_error',
      upstream: { status: 500 },
    });
    expect(String(line.msg)).not.toContain(requestId);
  });

  it('puts the request id on the line of a stream that ended early', async () => {
    h.mock.setFault('reset_mid_stream');
    const { requestId, status } = await chat(true);
    expect(status).toBe(200);
    const line = await lineOf(requestId, 'chat stream ended early');
    expect(line).toMatchObject({ level: 40, outcome: 'upstream_failed' });
  });
});
