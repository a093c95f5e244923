import request from 'supertest';
import { DatabaseService } from '../src/database/database.service';
import { RequestLogWriter } from '../src/spend/request-log.writer';
import {
  type ChatHarness,
  type ChatUser,
  collect,
  eventually,
  startChatHarness,
} from './support/chat-harness';

interface Row {
  id: string;
  time: string;
  requestId: string;
  userId: string;
  username?: string;
  keyId: string | null;
  teamId: string | null;
  route: string;
  model: string;
  status: string;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  costUsd: number;
  keywardMs: number;
  upstreamMs: number;
  ttftMs: number | null;
  stream: boolean;
  content?: unknown;
}

/** gpt-4o-mini in nano-USD per token: input 150, cached input 75, output 600 (docs/pricing.md). */
function miniNanos(prompt: number, cached: number, completion: number): number {
  return (prompt - cached) * 150 + cached * 75 + completion * 600;
}

/** A request-log row for `RequestLogWriter.add` (one cheap non-streamed call), less its id and time. */
function loggedCall(userId: string) {
  return {
    userId,
    keyId: null,
    teamId: null,
    route: '/v1/chat/completions',
    model: 'gpt-4o-mini',
    status: '200',
    promptTokens: 1,
    cachedTokens: 0,
    completionTokens: 1,
    reasoningTokens: 0,
    costNanos: 750,
    keywardMs: 1,
    upstreamMs: 1,
    ttftMs: null,
    stream: false,
  };
}

describe('Request log and spend (admin API)', () => {
  let h: ChatHarness;
  let admin: ChatUser;

  beforeAll(async () => {
    h = await startChatHarness({ REQUEST_LOG_FLUSH_MS: '20' });
    admin = await h.newUser({ roles: ['admin'] });
  }, 30_000);
  afterEach(() => h.mock.setFault(null));
  afterAll(() => h.close(), 30_000);

  async function rows(query: Record<string, string>): Promise<Row[]> {
    const res = await request(h.t.server)
      .get('/api/v1/admin/requests')
      .query(query)
      .set('Authorization', `Bearer ${admin.jwt}`)
      .expect(200);
    return (res.body as { requests: Row[] }).requests;
  }

  it('logs a non-streamed call with the usage upstream reported, cached and reasoning included', async () => {
    const user = await h.newUser();
    h.mock.reset();
    const completion = await h.client(user.apiKey).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'a long prompt [mock-cached:8] [mock-reasoning:5]' }],
    });
    const reported = h.mock.reportedUsage[0].usage as {
      prompt_tokens: number;
      completion_tokens: number;
    };
    expect(completion.usage?.prompt_tokens_details?.cached_tokens).toBe(8);
    const [row] = await rows({ userId: user.id });
    expect(row).toMatchObject({
      userId: user.id,
      username: user.username,
      route: '/v1/chat/completions',
      model: 'gpt-4o-mini',
      status: '200',
      stream: false,
      promptTokens: reported.prompt_tokens,
      cachedTokens: 8,
      completionTokens: reported.completion_tokens,
      reasoningTokens: 5,
      ttftMs: null,
      teamId: null,
    });
    expect(row.keyId).toMatch(/^[0-9a-f-]{36}$/);
    expect(row.costUsd).toBe(
      miniNanos(reported.prompt_tokens, 8, reported.completion_tokens) / 1e9,
    );
    expect(row.upstreamMs).toBeGreaterThanOrEqual(0);
    expect(row.keywardMs).toBeGreaterThanOrEqual(0);
    expect(row.requestId).not.toBe('');
    expect(row.content).toBeUndefined();
  });

  it('logs a stream with its time to first token, and a failed and an aborted call', async () => {
    const user = await h.newUser();
    const client = h.client(user.apiKey);
    h.mock.reset();
    const chunks = await collect(
      await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'stream this please' }],
        stream: true,
      }),
    );
    expect(chunks.length).toBeGreaterThan(1);
    const reported = h.mock.reportedUsage[0].usage as {
      prompt_tokens: number;
      completion_tokens: number;
    };

    h.mock.setFault('server_error');
    await expect(
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 502 });

    h.mock.setFault('never_ending_stream');
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'never ends' }], stream: true },
      { signal: controller.signal },
    );
    // The client leaves after the first words: Keyward aborts upstream and logs the call.
    await (async () => {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) {
          controller.abort();
          break;
        }
      }
    })().catch(() => undefined);

    let logged: Row[] = [];
    await eventually(async () => {
      logged = await rows({ userId: user.id });
      return logged.length === 3;
    });
    const [aborted, failed, streamed] = logged;
    expect(streamed).toMatchObject({
      status: '200',
      stream: true,
      promptTokens: reported.prompt_tokens,
      completionTokens: reported.completion_tokens,
    });
    expect(streamed.ttftMs).not.toBeNull();
    expect(streamed.ttftMs).toBeGreaterThanOrEqual(0);
    expect(failed).toMatchObject({ status: '502', stream: false, promptTokens: 0, costUsd: 0 });
    expect(aborted).toMatchObject({ status: 'client_closed', stream: true });
    expect(aborted.promptTokens).toBeGreaterThan(0);

    // Filters: status, and pagination by cursor.
    expect((await rows({ userId: user.id, status: '502' })).map((r) => r.id)).toEqual([failed.id]);
    const page = await request(h.t.server)
      .get('/api/v1/admin/requests')
      .query({ userId: user.id, limit: '2' })
      .set('Authorization', `Bearer ${admin.jwt}`)
      .expect(200);
    const body = page.body as { requests: Row[]; nextCursor: string | null };
    expect(body.requests.map((r) => r.id)).toEqual([aborted.id, failed.id]);
    const next = await request(h.t.server)
      .get('/api/v1/admin/requests')
      .query({ userId: user.id, limit: '2', cursor: body.nextCursor ?? '' })
      .set('Authorization', `Bearer ${admin.jwt}`)
      .expect(200);
    expect(next.body).toEqual({ requests: [streamed], nextCursor: null });
  });

  it('refuses bad filters with 400 problem+json and non-admins with 403', async () => {
    const user = await h.newUser();
    for (const query of [
      { status: 'DROP TABLE' },
      { limit: '0' },
      { limit: '1001' },
      { cursor: 'abc' },
      { since: 'yesterday' },
      { keyId: 'not-a-uuid' },
      { userId: 'a\u0000b' },
      { unknown: '1' },
    ]) {
      const res = await request(h.t.server)
        .get('/api/v1/admin/requests')
        .query(query)
        .set('Authorization', `Bearer ${admin.jwt}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    await request(h.t.server)
      .get('/api/v1/admin/requests')
      .set('Authorization', `Bearer ${user.jwt}`)
      .expect(403);
    await request(h.t.server)
      .get('/api/v1/admin/spend')
      .set('Authorization', `Bearer ${user.jwt}`)
      .expect(403);
    await request(h.t.server)
      .get('/api/v1/teams/00000000-0000-4000-8000-000000000000/spend')
      .set('Authorization', `Bearer ${user.jwt}`)
      .expect(404);
  });

  it('exports CSV with every matching row, streamed, formula-looking cells neutralised', async () => {
    const user = await h.newUser();
    await h.client(user.apiKey).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'for the export' }],
    });
    // A row whose text cells look like formulas, through the real writer.
    const writer = h.t.app.get(RequestLogWriter);
    void writer.add({
      ...loggedCall(user.id),
      time: new Date(),
      requestId: '=HYPERLINK("http://evil.example","x")',
      route: '+cmd',
      model: '@sum',
    });
    await writer.flush();
    const res = await request(h.t.server)
      .get('/api/v1/admin/requests')
      .query({ userId: user.id })
      .set('Authorization', `Bearer ${admin.jwt}`)
      .set('Accept', 'text/csv')
      .expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const lines = res.text.trimEnd().split('\r\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^id,time,requestId,userId,username,keyId,teamId,route,model,status,/);
    expect(lines[1]).toContain(`"'=HYPERLINK(""http://evil.example"",""x"")"`);
    expect(lines[1]).toContain(",'+cmd,'@sum,200,1,0,1,0,7.5e-7,");
    expect(lines[2]).toContain(',/v1/chat/completions,gpt-4o-mini,200,');
  });

  it('reports spend per user and model in day buckets, bounded', async () => {
    const user = await h.newUser();
    const client = h.client(user.apiKey);
    for (const content of ['one', 'two [mock-cached:2]']) {
      await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content }],
      });
    }
    const logged = await rows({ userId: user.id });
    const nanos = logged.reduce(
      (sum, r) => sum + miniNanos(r.promptTokens, r.cachedTokens, r.completionTokens),
      0,
    );
    const res = await request(h.t.server)
      .get('/api/v1/admin/spend')
      .query({ groupBy: 'user', bucket: 'day' })
      .set('Authorization', `Bearer ${admin.jwt}`)
      .expect(200);
    const report = res.body as {
      groupBy: string;
      bucket: string;
      series: {
        key: string;
        label: string;
        points: { t: string; requests: number; costUsd: number; cachedTokens: number }[];
      }[];
    };
    expect(report).toMatchObject({ groupBy: 'user', bucket: 'day' });
    const mine = report.series.find((s) => s.key === user.id);
    expect(mine?.label).toBe(user.username);
    expect(mine?.points).toHaveLength(1);
    expect(mine?.points[0]).toMatchObject({ requests: 2, cachedTokens: 2, costUsd: nanos / 1e9 });
    expect(mine?.points[0].t).toMatch(/T00:00:00\.000Z$/);

    const byModel = await request(h.t.server)
      .get('/api/v1/admin/spend')
      .query({ groupBy: 'model', bucket: 'hour' })
      .set('Authorization', `Bearer ${admin.jwt}`)
      .expect(200);
    expect((byModel.body as { series: { key: string }[] }).series.map((s) => s.key)).toContain(
      'gpt-4o-mini',
    );

    for (const query of [
      { groupBy: 'planet' },
      { bucket: 'minute' },
      { since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' },
      { since: '2020-01-01T00:00:00Z', until: '2026-01-01T00:00:00Z' },
      { bucket: 'hour', since: '2026-01-01T00:00:00Z', until: '2026-03-01T00:00:00Z' },
    ]) {
      const bad = await request(h.t.server)
        .get('/api/v1/admin/spend')
        .query(query)
        .set('Authorization', `Bearer ${admin.jwt}`);
      expect({ query, status: bad.status }).toEqual({ query, status: 400 });
    }
  });

  it('pages newest first by the time the call arrived, not by the order rows were written', async () => {
    const writer = h.t.app.get(RequestLogWriter);
    const userId = `order-${Date.now()}`;
    const base = loggedCall(userId);
    const at = Date.now() - 60_000;
    // Written in this order (one batch, then a late one, as a long stream or another instance
    // would), arriving in the order of their names; c1 and c2 at the same millisecond.
    for (const [requestId, offset] of [
      ['c4', 4],
      ['c1', 1],
      ['c2', 1],
    ] as const) {
      void writer.add({ ...base, requestId, time: new Date(at + offset * 1000) });
    }
    await writer.flush();
    void writer.add({ ...base, requestId: 'c3', time: new Date(at + 3000) });
    await writer.flush();
    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const res = await request(h.t.server)
        .get('/api/v1/admin/requests')
        .query({ userId, limit: '1', ...(cursor ? { cursor } : {}) })
        .set('Authorization', `Bearer ${admin.jwt}`)
        .expect(200);
      const body = res.body as { requests: Row[]; nextCursor: string | null };
      seen.push(...body.requests.map((r) => r.requestId));
      cursor = body.nextCursor;
      pages += 1;
      expect(pages).toBeLessThan(10);
    }
    // Same time: the later write first (id breaks the tie), and every row exactly once.
    expect(seen).toEqual(['c4', 'c3', 'c2', 'c1']);
    const csv = await request(h.t.server)
      .get('/api/v1/admin/requests')
      .query({ userId })
      .set('Authorization', `Bearer ${admin.jwt}`)
      .set('Accept', 'text/csv')
      .expect(200);
    const order = ['c4', 'c3', 'c2', 'c1'].map((id) => csv.text.indexOf(`,${id},`));
    expect(order.every((index, i) => index > 0 && (i === 0 || index > order[i - 1]))).toBe(true);
  });

  it('prunes rows after REQUEST_LOG_DAYS and content after REQUEST_LOG_CONTENT_DAYS', async () => {
    const writer = h.t.app.get(RequestLogWriter);
    const database = h.t.app.get(DatabaseService);
    const userId = `prune-${Date.now()}`;
    const day = 24 * 60 * 60 * 1000;
    const base = loggedCall(userId);
    void writer.add({ ...base, requestId: 'old', time: new Date(Date.now() - 31 * day) });
    void writer.add({ ...base, requestId: 'recent', time: new Date(Date.now() - 8 * day) });
    await writer.flush();
    // Content as a team that logs it would have stored it (8 days old: past the 7-day default).
    await database.run(
      `UPDATE request_log SET content = '{"prompt":"p","completion":"c"}' WHERE user_id = $1`,
      [userId],
    );
    expect(await writer.prune()).toBeGreaterThanOrEqual(1);
    const left = await database.query<{ request_id: string; content: unknown }>(
      'SELECT request_id, content FROM request_log WHERE user_id = $1',
      [userId],
    );
    expect(left).toEqual([{ request_id: 'recent', content: null }]);
  });

  it("logs a team key's calls under its team, with redacted content only when the team logs it; team admins read their own team", async () => {
    const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
    const team = async (logContent: boolean) =>
      (
        (
          await request(h.t.server)
            .post('/api/v1/admin/teams')
            .set(bearer(admin.jwt))
            .send({ name: `spend-${logContent}-${Date.now()}`, logContent })
            .expect(201)
        ).body as { id: string }
      ).id;
    const [logging, quiet] = [await team(true), await team(false)];
    const lead = await h.newUser();
    const other = await h.newUser();
    for (const [teamId, userId] of [
      [logging, lead.id],
      [quiet, lead.id],
      [quiet, other.id],
    ]) {
      await request(h.t.server)
        .put(`/api/v1/teams/${teamId}/members/${userId}`)
        .set(bearer(admin.jwt))
        .send({ role: 'team_admin' })
        .expect(200);
    }
    const keyOf = async (teamId: string) =>
      (
        (
          await request(h.t.server)
            .post('/api/v1/keys')
            .set(bearer(lead.jwt))
            .send({ name: 'team key', teamId, scopes: ['chat'] })
            .expect(201)
        ).body as { key: string }
      ).key;
    const prompt = 'reach me at lead@example.com with sk-abcdefghijklmnop';
    for (const teamId of [logging, quiet]) {
      await h.client(await keyOf(teamId)).chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: prompt }],
      });
    }

    const read = async (teamId: string, token: string, status = 200) =>
      (
        await request(h.t.server)
          .get(`/api/v1/teams/${teamId}/requests`)
          .set(bearer(token))
          .expect(status)
      ).body as { requests: Row[] };
    const [logged] = (await read(logging, lead.jwt)).requests;
    expect(logged).toMatchObject({ teamId: logging, userId: lead.id, status: '200' });
    expect(logged.content).toEqual({
      prompt: JSON.stringify([{ role: 'user', content: 'reach me at [REDACTED] with [REDACTED]' }]),
      completion: 'Mock reply to: reach me at [REDACTED] with [REDACTED]',
    });
    const quietRows = (await read(quiet, other.jwt)).requests;
    expect(quietRows).toHaveLength(1);
    expect(quietRows[0].teamId).toBe(quiet);
    expect(quietRows[0].content).toBeUndefined();
    // Another team's admin sees nothing of this team: the 404 of a team that does not exist.
    await read(logging, other.jwt, 404);
    await request(h.t.server)
      .get(`/api/v1/teams/${logging}/spend`)
      .set(bearer(other.jwt))
      .expect(404);

    const spend = await request(h.t.server)
      .get(`/api/v1/teams/${logging}/spend`)
      .query({ groupBy: 'key' })
      .set(bearer(lead.jwt))
      .expect(200);
    const series = (
      spend.body as { series: { key: string; label: string; points: { requests: number }[] }[] }
    ).series;
    expect(series).toHaveLength(1);
    expect(series[0]).toMatchObject({ key: logged.keyId, label: 'team key' });
    expect(series[0].points[0].requests).toBe(1);

    // The admin view by team labels the series with the team's name.
    const byTeam = await request(h.t.server)
      .get('/api/v1/admin/spend')
      .query({ groupBy: 'team' })
      .set(bearer(admin.jwt))
      .expect(200);
    const labels = (byTeam.body as { series: { key: string; label: string }[] }).series;
    expect(labels.find((s) => s.key === logging)?.label).toMatch(/^spend-true-/);
  });
});
