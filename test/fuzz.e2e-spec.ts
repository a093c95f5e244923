import fc from 'fast-check';
import request from 'supertest';
import {
  type ChatHarness,
  type ChatUser,
  PASSWORD,
  startChatHarness,
} from './support/chat-harness';
import { type RawHeaders, type RawResponse, sendRaw } from './support/raw-http';
import { edgeString, keyArb, nodeArb, percent } from './support/fuzz/arbitraries';
import { mutate, obj, serialize } from './support/fuzz/json-tree';
import { listRoutes, type Route } from './support/routes';

/**
 * Property-based fuzzing of every controller route through the real pipeline (docs/reference.md
 * "Error formats": bad input is 400/413/415/422, never 500; no library text reaches a client).
 *
 * Bounded and reproducible: a fixed seed (FUZZ_SEED, printed) and a small number of runs
 * (FUZZ_RUNS scales every property). A failure prints the seed and the failing case; rerun
 * with FUZZ_SEED=<seed> FUZZ_SHRINK=1 to get the smallest counterexample.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 30));
const SHRINK = process.env.FUZZ_SHRINK === '1';
/** Small, so bodies "up to and over the limit" are cheap to send many times. */
const BODY_LIMIT = 64 * 1024;
/** Node's default --max-http-header-size: a larger header block is refused by Node itself. */
const NODE_HEADER_LIMIT = 16 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;

// The documented answers (docs/reference.md "Error formats", "Identity", "Chat"); anything else is
// a bug.
const DOCUMENTED = new Set([200, 201, 204, 400, 401, 403, 404, 409, 413, 415, 422, 429]);
const UUID = '00000000-0000-4000-8000-000000000000';

type Format = 'problem' | 'oauth2' | 'openai';
type Credential =
  'none' | 'user-jwt' | 'user-key' | 'user-cookie' | 'admin-jwt' | 'victim-jwt' | 'victim-cookie';

/** docs/reference.md "Error formats": the path alone decides the wire format of an error. */
function formatOf(path: string): Format {
  const bare = path.split('?', 1)[0];
  if (bare.startsWith('/v1/')) return 'openai';
  if (['/api/v1/auth/token', '/api/v1/auth/revoke', '/api/v1/auth/introspect'].includes(bare))
    return 'oauth2';
  return 'problem';
}

// ---------------------------------------------------------------------------------------------
// The oracle: what every answer must look like.

const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype).sort();
const ARRAY_PROTO_NAMES = Object.getOwnPropertyNames(Array.prototype).sort();

function assertPrototypesClean(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(([] as unknown as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTO_NAMES);
  expect(Object.getOwnPropertyNames(Array.prototype).sort()).toEqual(ARRAY_PROTO_NAMES);
}

function header(res: RawResponse, name: string): string {
  const value = res.headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/** Throws (with the case in the message) when an answer breaks the contract. */
function assertDocumented(path: string, res: RawResponse, allowNodeLimits = false): void {
  const where = `${path} → ${res.status} ${res.text.slice(0, 300)}`;
  if (allowNodeLimits && res.status === 431) return; // Node refuses before Keyward runs
  if (res.status >= 500 || !DOCUMENTED.has(res.status)) throw new Error(`undocumented: ${where}`);
  // Request ids are echoed into headers and logs: only the safe alphabet may come back.
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(header(res, 'x-request-id'))) {
    throw new Error(`unsafe X-Request-Id echoed: ${where}`);
  }
  // docs/reference.md "Audit and logs": every response, refusals before routing included.
  if (header(res, 'x-content-type-options') !== 'nosniff') {
    throw new Error(`no X-Content-Type-Options: nosniff: ${where}`);
  }
  if (
    /node_modules|FST_ERR|\n\s+at .+:\d+:\d+|SyntaxError|TypeError|class-validator/.test(res.text)
  ) {
    throw new Error(`library text or stack trace in the body: ${where}`);
  }
  if (res.status < 400) return;
  // RFC 6749 §5.2: a failed client authentication (Basic) on the OAuth2 routes asks for Basic.
  const challenge =
    formatOf(path) === 'oauth2' ? /^(Bearer|Basic) realm="keyward"/ : /^Bearer realm="keyward"/;
  if (res.status === 401 && !challenge.test(header(res, 'www-authenticate'))) {
    throw new Error(`401 without WWW-Authenticate: ${where}`);
  }
  if (res.status === 429 && !/^\d+$/.test(header(res, 'retry-after'))) {
    throw new Error(`429 without Retry-After: ${where}`);
  }
  assertErrorFormat(formatOf(path), res, where);
}

function assertErrorFormat(format: Format, res: RawResponse, where: string): void {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    throw new Error(`error body is not JSON: ${where}`);
  }
  const type = header(res, 'content-type');
  const isString = (value: unknown) => typeof value === 'string' && value.length > 0;
  switch (format) {
    case 'problem':
      if (
        !type.startsWith('application/problem+json') ||
        body.status !== res.status ||
        !isString(body.type) ||
        !isString(body.title) ||
        !isString(body.detail)
      ) {
        throw new Error(`not RFC 9457 problem+json: ${where}`);
      }
      return;
    case 'oauth2':
      if (
        !type.startsWith('application/json') ||
        !isString(body.error) ||
        !/^[a-z_]+$/.test(String(body.error)) ||
        !isString(body.error_description)
      ) {
        throw new Error(`not an RFC 6749 error: ${where}`);
      }
      return;
    case 'openai': {
      const error = body.error as Record<string, unknown> | undefined;
      if (
        !type.startsWith('application/json') ||
        !error ||
        !isString(error.message) ||
        !isString(error.type) ||
        !('param' in error) ||
        !('code' in error)
      ) {
        throw new Error(`not an OpenAI error: ${where}`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

interface Plan {
  /** Who calls it in the fuzz (destructive routes get a disposable victim). */
  readonly as: 'user' | 'admin' | 'victim';
  /** A valid body, when the route takes one. */
  readonly body?: Record<string, unknown>;
  /** A valid query, when the route reads one. */
  readonly query?: string;
  /** A valid path parameter, when the default one (a victim or a random UUID) is not. */
  readonly id?: string;
  /** The whole valid path, for routes with several parameters. */
  readonly path?: string;
}

describe('Fuzzing every route through the real pipeline (fast-check)', () => {
  let h: ChatHarness;
  let user: ChatUser;
  let admin: ChatUser;
  let victim: ChatUser;
  let routes: Route[];
  const cookies = new Map<'user' | 'victim', { cookie: string; csrf: string }>();
  let requests = 0;
  /** A response the user owns: GET /v1/responses/:id has something to find. */
  let responseId = '';

  const plans: Record<string, Plan> = {};
  const planFor = (route: Route): Plan => {
    const plan = plans[`${route.method} ${route.path}`];
    if (!plan) throw new Error(`no fuzz plan for ${route.method} ${route.path}`);
    return plan;
  };

  beforeAll(async () => {
    process.stdout.write(
      `fuzz: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} (rerun with the same seed to reproduce)\n`,
    );
    h = await startChatHarness({
      BODY_LIMIT: String(BODY_LIMIT),
      UPSTREAM_TIMEOUT_MS: '3000',
      CHAT_DAILY_TOKENS: '100000000',
      METRICS_TOKEN: 'fuzz-metrics-token-0123456789abcdef',
    });
    expect(h.t.config.app.bodyLimit).toBe(BODY_LIMIT);
    user = await h.newUser({ chatRpm: 1_000_000 });
    admin = await h.newUser({ roles: ['admin'], chatRpm: 1_000_000 });
    victim = await h.newUser({ chatRpm: 1_000_000 });
    for (const [who, account] of [
      ['user', user],
      ['victim', victim],
    ] as const) {
      const res = await request(h.t.server)
        .post('/api/v1/auth/session')
        .send({ username: account.username, password: PASSWORD })
        .expect(200);
      const setCookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
      cookies.set(who, {
        cookie: setCookies.map((c) => c.split(';', 1)[0]).join('; '),
        csrf: (res.body as { csrfToken: string }).csrfToken,
      });
    }
    routes = listRoutes(h.t);
    responseId = (await h.client(user.apiKey).responses.create({ input: 'hi' })).id;
    const hello = [{ role: 'user', content: 'hi' }];
    // A team the user administers (the victim is a member), and keys to rotate and disable.
    const teamId = (
      (
        await request(h.t.server)
          .post('/api/v1/admin/teams')
          .set('Authorization', `Bearer ${admin.jwt}`)
          .send({ name: 'fuzz team' })
          .expect(201)
      ).body as { id: string }
    ).id;
    await request(h.t.server)
      .put(`/api/v1/teams/${teamId}/members/${user.id}`)
      .set('Authorization', `Bearer ${admin.jwt}`)
      .send({ role: 'team_admin' })
      .expect(200);
    const keyId = async (body: object = {}) =>
      (
        (
          await request(h.t.server)
            .post('/api/v1/keys')
            .set('Authorization', `Bearer ${user.jwt}`)
            .send({ name: 'fuzz policy key', ...body })
            .expect(201)
        ).body as { id: string }
      ).id;
    const [rotatedKey, disabledKey, changedKey, teamKey] = [
      await keyId(),
      await keyId(),
      await keyId(),
      await keyId({ teamId }),
    ];
    const machineClient = (
      await request(h.t.server)
        .post('/api/v1/admin/clients')
        .set('Authorization', `Bearer ${admin.jwt}`)
        .send({ name: 'fuzz-client', scopes: ['chat'] })
        .expect(201)
    ).body as { id: string };
    Object.assign(plans, {
      'GET /.well-known/jwks.json': { as: 'user' },
      'GET /.well-known/oauth-authorization-server': { as: 'user' },
      'GET /health/live': { as: 'user' },
      'GET /health/ready': { as: 'user' },
      'GET /metrics': { as: 'admin' },
      'GET /api/v1/auth/me': { as: 'user' },
      'GET /api/v1/keys': { as: 'user' },
      'GET /api/v1/usage': { as: 'user', query: 'days=7' },
      'GET /api/v1/admin/usage': { as: 'admin', query: 'days=7' },
      'GET /api/v1/admin/audit': { as: 'admin', query: 'limit=5' },
      'GET /api/v1/admin/users': { as: 'admin' },
      'GET /api/v1/admin/users/:id': { as: 'admin' },
      'GET /v1/models': { as: 'user' },
      'GET /v1/models/:id': { as: 'user', id: 'gpt-4o-mini' },
      'POST /api/v1/auth/token': {
        as: 'victim',
        body: { grant_type: 'password', username: victim.username, password: 'not-the-password' },
      },
      'POST /api/v1/auth/revoke': { as: 'user', body: { token: 'not-a-token' } },
      'POST /api/v1/auth/session': {
        as: 'victim',
        body: { username: victim.username, password: 'not-the-password' },
      },
      'POST /api/v1/auth/session/refresh': { as: 'victim', body: {} },
      'DELETE /api/v1/auth/session': { as: 'victim' },
      'POST /api/v1/auth/logout': { as: 'victim', body: {} },
      'POST /api/v1/auth/logout-all': { as: 'victim', body: {} },
      'POST /api/v1/keys': { as: 'user', body: { name: 'fuzz', scopes: ['chat'] } },
      'DELETE /api/v1/keys/:id': { as: 'user' },
      'PATCH /api/v1/keys/:id': { as: 'user', id: changedKey, body: { rpm: 100, models: null } },
      'POST /api/v1/chat': { as: 'user', body: { messages: hello } },
      'POST /v1/chat/completions': { as: 'user', body: { model: 'gpt-4o-mini', messages: hello } },
      'POST /v1/responses': { as: 'user', body: { model: 'gpt-4o-mini', input: 'hi' } },
      'GET /v1/responses/:id': { as: 'user' },
      // Destructive (and answers 200 with a body, as OpenAI does): fuzzed, not a base request.
      'DELETE /v1/responses/:id': { as: 'victim' },
      'POST /v1/embeddings': { as: 'user', body: { model: 'text-embedding-3-small', input: 'hi' } },
      'POST /api/v1/admin/users': {
        as: 'admin',
        body: { username: 'fuzz_created', password: PASSWORD, roles: ['user'] },
      },
      'PATCH /api/v1/admin/users/:id': { as: 'admin', body: { chatRpm: 1_000_000 } },
      'POST /api/v1/admin/teams': { as: 'admin', body: { name: 'fuzz created team', rpm: 5 } },
      'GET /api/v1/admin/teams': { as: 'admin' },
      'GET /api/v1/admin/teams/:id': { as: 'admin', id: teamId },
      'PATCH /api/v1/admin/teams/:id': { as: 'admin', id: teamId, body: { dailyUsd: 100 } },
      'DELETE /api/v1/admin/teams/:id': { as: 'admin' },
      'GET /api/v1/teams': { as: 'user' },
      'GET /api/v1/teams/:id/members': { as: 'user', id: teamId },
      'PUT /api/v1/teams/:id/members/:userId': {
        as: 'user',
        path: `/api/v1/teams/${teamId}/members/${victim.id}`,
        body: { role: 'member' },
      },
      'POST /api/v1/teams/:id/members': {
        as: 'user',
        id: teamId,
        body: { username: victim.username, role: 'member' },
      },
      'DELETE /api/v1/teams/:id/members/:userId': { as: 'user' },
      'GET /api/v1/teams/:id/keys': { as: 'user', id: teamId },
      'DELETE /api/v1/teams/:id/keys/:keyId': { as: 'user' },
      'PATCH /api/v1/teams/:id/keys/:keyId': {
        as: 'user',
        path: `/api/v1/teams/${teamId}/keys/${teamKey}`,
        body: { dailyTokens: 1000, allowedCidrs: ['10.0.0.0/8'] },
      },
      'POST /api/v1/keys/:id/rotate': { as: 'user', id: rotatedKey, body: { graceSeconds: 0 } },
      'GET /api/v1/admin/keys': { as: 'admin', query: `userId=${user.id}` },
      'PATCH /api/v1/admin/keys/:id': { as: 'admin', id: disabledKey, body: { disabled: false } },
      'DELETE /api/v1/admin/keys/:id': { as: 'admin' },
      'GET /api/v1/admin/requests': { as: 'admin', query: 'limit=5' },
      'GET /api/v1/admin/spend': { as: 'admin', query: 'groupBy=model' },
      'GET /api/v1/teams/:id/requests': { as: 'user', id: teamId, query: 'limit=5' },
      'GET /api/v1/teams/:id/spend': { as: 'user', id: teamId, query: 'groupBy=key' },
      'GET /api/v1/admin/clients': { as: 'admin' },
      'POST /api/v1/admin/clients': { as: 'admin', body: { name: 'fuzz', scopes: ['chat'] } },
      'POST /api/v1/admin/clients/:id/rotate': { as: 'admin', id: machineClient.id },
      'PATCH /api/v1/admin/clients/:id': {
        as: 'admin',
        body: { disabled: false },
        id: machineClient.id,
      },
      // Client authentication only (never a bearer credential): every fuzzed call is a 401/400.
      'POST /api/v1/auth/introspect': { as: 'victim', body: { token: 'not-a-token' } },
      // Counts wrong current passwords toward the victim's lockout, as sign-in does.
      'POST /api/v1/auth/password': {
        as: 'victim',
        body: { currentPassword: 'not-the-password', newPassword: 'another-Unusual-pass-77' },
      },
      'GET /api/v1/auth/oidc/config': { as: 'user' },
      // Single sign-on is not configured here: these answer 404 (a browser flow; fuzzed only).
      'GET /api/v1/auth/oidc/login': { as: 'victim', query: 'returnTo=/' },
      'GET /api/v1/auth/oidc/callback': { as: 'victim', query: 'code=x&state=y' },
      'GET /api/v1/auth/oidc/end-session': { as: 'victim' },
      'POST /api/v1/auth/oidc/logout': { as: 'victim', body: {} },
    } satisfies Record<string, Plan>);
  }, 60_000);

  afterAll(async () => {
    process.stdout.write(`fuzz: ${requests} requests, FUZZ_SEED=${SEED}\n`);
    await h?.close();
  }, 30_000);

  function credentialHeaders(credential: Credential, method: string): RawHeaders {
    const cookieOf = (who: 'user' | 'victim') => {
      const session = cookies.get(who)!;
      return {
        cookie: session.cookie,
        'x-csrf-token': method === 'GET' ? undefined : session.csrf,
      };
    };
    switch (credential) {
      case 'none':
        return {};
      case 'user-jwt':
        return { authorization: `Bearer ${user.jwt}` };
      case 'user-key':
        return { authorization: `Bearer ${user.apiKey}` };
      case 'user-cookie':
        return cookieOf('user');
      case 'admin-jwt':
        return { authorization: `Bearer ${admin.jwt}` };
      case 'victim-jwt':
        return { authorization: `Bearer ${victim.jwt}` };
      case 'victim-cookie':
        return cookieOf('victim');
    }
  }

  function credentialArb(plan: Plan): fc.Arbitrary<Credential> {
    switch (plan.as) {
      case 'admin':
        return fc.constantFrom<Credential>(
          'admin-jwt',
          'admin-jwt',
          'admin-jwt',
          'user-jwt',
          'none',
        );
      case 'victim':
        return fc.constantFrom<Credential>('victim-jwt', 'victim-cookie', 'none');
      case 'user':
        return fc.constantFrom<Credential>('user-jwt', 'user-key', 'user-cookie', 'none');
    }
  }

  function pathOf(route: Route, id = pathId(route)) {
    const whole = plans[`${route.method} ${route.path}`]?.path;
    if (whole && id === pathId(route)) return whole;
    return route.path.replace(/:[A-Za-z]+/g, percent(id));
  }

  function pathId(route: Route): string {
    if (route.path.includes('/admin/users/')) return victim.id;
    if (route.path.startsWith('/v1/responses/')) return responseId;
    return UUID;
  }

  async function send(
    method: string,
    path: string,
    headers: RawHeaders,
    body?: string | Buffer,
  ): Promise<RawResponse> {
    requests += 1;
    return sendRaw(h.t.url!, { method, path, headers, body, timeoutMs: REQUEST_TIMEOUT_MS });
  }

  /** `send` with the credential's headers, and a JSON content type when there is a body. */
  function sendAs(credential: Credential, method: string, path: string, body?: string) {
    return send(
      method,
      path,
      {
        ...credentialHeaders(credential, method),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body,
    );
  }

  const fuzzOptions = (numRuns: number) => ({
    seed: SEED,
    numRuns,
    endOnFailure: !SHRINK,
    verbose: 1 as const,
  });

  it('has a fuzz plan for every route (a new route must join the fuzz on purpose)', () => {
    const missing = routes.map((r) => `${r.method} ${r.path}`).filter((key) => !(key in plans));
    expect(missing).toEqual([]);
    expect(routes.length).toBeGreaterThan(20);
  });

  it('the oracle itself catches pollution, 5xx and wrong formats (so it can fail)', () => {
    (Object.prototype as Record<string, unknown>).polluted = 'yes';
    try {
      expect(() => assertPrototypesClean()).toThrow();
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
    assertPrototypesClean();
    const ok = {
      'x-request-id': 'r1',
      'content-type': 'application/json',
      'x-content-type-options': 'nosniff',
    };
    const fake = (status: number, text: string, headers = ok): RawResponse => ({
      status,
      text,
      headers,
      ms: 0,
    });
    expect(() => assertDocumented('/api/v1/keys', fake(500, '{}'))).toThrow(/undocumented/);
    expect(() =>
      assertDocumented('/api/v1/keys', fake(400, '{"error":"invalid_request"}')),
    ).toThrow(/problem/);
    expect(() =>
      assertDocumented('/v1/models', fake(400, '{"type":"x","title":"t","status":400}')),
    ).toThrow(/OpenAI/);
    expect(() =>
      assertDocumented('/api/v1/auth/token', fake(400, '{"error":{"message":"m"}}')),
    ).toThrow(/6749/);
    expect(() =>
      assertDocumented('/x', fake(200, 'ok', { ...ok, 'x-request-id': 'a\u0000b' })),
    ).toThrow(/X-Request-Id/);
  });

  it('answers every valid base request with 2xx (so mutations start from inside the contract)', async () => {
    for (const route of routes) {
      const plan = planFor(route);
      // Destructive and login routes are exercised by the fuzz itself, not here.
      if (plan.as === 'victim' || route.path === '/api/v1/admin/users') continue;
      const credential = plan.as === 'admin' ? 'admin-jwt' : 'user-jwt';
      const body = plan.body ? serialize(obj(plan.body)) : undefined;
      const path = `${pathOf(route, plan.id)}${plan.query ? `?${plan.query}` : ''}`;
      const res = await sendAs(credential, route.method, path, body);
      const expected = route.method === 'DELETE' ? [204, 404] : [200, 201, 204];
      expect({ route: path, ok: expected.includes(res.status), status: res.status }).toEqual({
        route: path,
        ok: true,
        status: res.status,
      });
    }
  });

  it('refuses an undeclared field on every route that reads a body (mass assignment)', async () => {
    let checked = 0;
    for (const route of routes) {
      const plan = planFor(route);
      if (!plan.body || plan.as === 'victim' || route.path === '/api/v1/admin/users') continue;
      const credential = plan.as === 'admin' ? 'admin-jwt' : 'user-jwt';
      for (const extra of ['isAdmin', 'user_id', 'x-extra']) {
        const body = serialize(obj({ ...plan.body, [extra]: true }));
        const res = await sendAs(credential, route.method, pathOf(route), body);
        assertDocumented(pathOf(route), res);
        expect({ route: route.path, extra, status: res.status }).toEqual({
          route: route.path,
          extra,
          status: 400,
        });
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(3 * 5);
  });

  it('refuses a malformed or over-long path segment in our format, not the router’s', async () => {
    // Found by this fuzz: Fastify's router answered these itself (414 / 400, its own JSON,
    // the path echoed, no security headers) before any hook or filter ran.
    for (const path of [`/api/v1/keys/${'a'.repeat(101)}`, '/api/v1/keys/%E0%A4%A']) {
      const res = await send('DELETE', path, credentialHeaders('user-jwt', 'DELETE'));
      assertDocumented(path, res);
      expect(res.status).toBe(400);
      expect(res.text).not.toContain('aaaa');
    }
  });

  it('answers random, malformed, huge, deep and hostile bodies with a documented status', async () => {
    const bodyRoutes = () => routes.filter((r) => r.method !== 'GET');
    const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON'];
    const contentTypeArb = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...JSON_TYPES) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=xyz',
          'application/xml',
          'application/json; charset=utf-16',
          'application/jsonx',
          'application/merge-patch+json',
          '*/*',
          'application/json, text/plain',
          '',
          'none',
        ),
      },
    );
    const bodyArb = (
      plan: Plan,
    ): fc.Arbitrary<{ kind: string; text: string | Buffer; unknownField?: string }> =>
      fc.oneof(
        {
          weight: 5,
          arbitrary: fc.tuple(nodeArb, keyArb, fc.nat()).map(([random, key, how]) => ({
            kind: 'mutated',
            text: serialize(mutate(obj(plan.body ?? {}), random, key, how)),
            // Mutation 1 adds a field; one no route could declare must be refused.
            unknownField: how % 6 === 1 && !/^[A-Za-z_]+$/.test(key) ? key : undefined,
          })),
        },
        { weight: 2, arbitrary: nodeArb.map((n) => ({ kind: 'random', text: serialize(n) })) },
        {
          weight: 1,
          arbitrary: fc
            .tuple(fc.integer({ min: 30, max: 30_000 }), fc.boolean())
            .map(([depth, arrays]) => ({
              kind: `deep ${depth}`,
              text: arrays
                ? `{"messages":${'['.repeat(depth)}${']'.repeat(depth)}}`
                : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
            })),
        },
        {
          weight: 1,
          // Around BODY_LIMIT, in bytes: ASCII and multi-byte characters (bytes ≠ chars).
          arbitrary: fc
            .tuple(
              fc.integer({ min: BODY_LIMIT - 64, max: BODY_LIMIT + 4096 }),
              fc.constantFrom('a', 'é', '😀'),
              fc.constantFrom(...Object.keys(plan.body ?? {}), 'name'),
            )
            .map(([bytes, unit, field]) => {
              const prefix = `{"${field}":"`;
              const count = Math.max(
                0,
                Math.floor((bytes - prefix.length - 2) / Buffer.byteLength(unit)),
              );
              return { kind: `huge ${bytes}`, text: `${prefix}${unit.repeat(count)}"}` };
            }),
        },
        {
          weight: 1,
          arbitrary: fc
            .constantFrom(
              '',
              ' ',
              'null',
              '[]',
              '"str"',
              '123',
              'true',
              '{',
              '{"a":1,}',
              '{"a":01}',
              "{'a':1}",
              '{"a":NaN}',
              '{"__proto__":{"polluted":"yes"}}',
              '{"constructor":{"prototype":{"polluted":"yes"}}}',
              '{"a":{"__proto__":{"polluted":"yes"}}}',
              '{"grant_type":"password","grant_type":"refresh_token"}',
              '\uFEFF{}',
              '{"a":"\\ud800"}',
              '{"a":"\\u0000"}',
              'grant_type=password&__proto__[polluted]=yes&constructor[prototype][polluted]=yes',
            )
            .map((text) => ({ kind: 'classic', text })),
        },
        {
          weight: 1,
          // Raw bytes: invalid UTF-8, CESU-8 surrogates, overlong encodings, NUL.
          arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({
            kind: 'bytes',
            text: Buffer.concat([
              Buffer.from('{"name":"'),
              Buffer.from([0xed, 0xa0, 0x80, 0xc0, 0x80, 0xff, 0x00]),
              Buffer.from(bytes),
              Buffer.from('"}'),
            ]),
          })),
        },
      );
    const caseArb = fc.constantFrom(...bodyRoutes()).chain((route) => {
      const plan = planFor(route);
      return fc.record({
        route: fc.constant(route),
        credential: credentialArb(plan),
        contentType: contentTypeArb,
        body: bodyArb(plan),
      });
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ route, credential, contentType, body }) => {
        const path = pathOf(route);
        const res = await send(
          route.method,
          path,
          {
            ...credentialHeaders(credential, route.method),
            ...(contentType === 'none' ? {} : { 'content-type': contentType }),
          },
          body.text,
        );
        assertDocumented(path, res);
        const bytes = Buffer.byteLength(body.text);
        const isJson = JSON_TYPES.includes(contentType);
        // Fastify checks the length before it parses: over the limit is 413 whatever the body.
        if (isJson && bytes > BODY_LIMIT)
          expect({ bytes, status: res.status }).toEqual({ bytes, status: 413 });
        // A JSON route sent anything but JSON: 415 (the OAuth2 endpoints also take forms).
        const formOk = formatOf(path) === 'oauth2' && contentType.startsWith('application/x-www');
        const nonJson = ['text/plain', 'application/xml', 'multipart/form-data; boundary=xyz'];
        const refused =
          nonJson.includes(contentType) || (contentType.startsWith('application/x-www') && !formOk);
        if (refused && bytes > 0) {
          expect({ contentType, status: res.status }).toEqual({ contentType, status: 415 });
        }
        // docs/reference.md "Error formats": `__proto__`/`constructor` keys are 400 on every route
        // that reads a body.
        const readsBody = Object.keys(planFor(route).body ?? {}).length > 0;
        const text = body.text.toString();
        const dangerous =
          /"(__proto__|constructor|prototype)"\s*:/.test(text) ||
          /(^|&)(__proto__|constructor)=/.test(text);
        if (readsBody && dangerous && res.status < 300) {
          throw new Error(
            `a forbidden key was accepted: ${path} ${body.text.toString().slice(0, 200)}`,
          );
        }
        // Mass assignment: a field the route does not declare is 400, never silently dropped.
        if (readsBody && body.unknownField !== undefined && res.status < 400) {
          throw new Error(
            `an unknown field ${JSON.stringify(body.unknownField)} was accepted: ${path} → ${res.status}`,
          );
        }
        assertPrototypesClean();
      }),
      fuzzOptions(RUNS * 6),
    );
  }, 120_000);

  it('answers malformed Authorization, forged and huge cookies, repeated headers with a documented status', async () => {
    const base64url = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    /** Changes one character in the middle (the last base64url char may only carry padding bits). */
    const tamper = (token: string, at: number) => {
      const i = Math.floor(token.length / 3) + (at % Math.floor(token.length / 3));
      const replacement = base64url[(base64url.indexOf(token[i]) + 1 + (at % 60)) % 64];
      return `${token.slice(0, i)}${replacement}${token.slice(i + 1)}`;
    };
    // Node's client refuses header bytes outside tab, 0x20-0x7e and 0x80-0xff; keep the rest.
    const headerSafe = (value: string) => value.replace(/[^\t\x20-\x7e\x80-\xff]/g, '');
    const latin1 = fc
      .uint8Array({ minLength: 1, maxLength: 300 })
      .map((bytes) => headerSafe(Buffer.from(bytes).toString('latin1')));
    const forgedAuth = fc.oneof(
      fc
        .tuple(
          fc.constantFrom(
            'Bearer',
            'bearer',
            'BEARER',
            'Basic',
            'Digest',
            'Token',
            'DPoP',
            '',
            'Bearer ',
          ),
          fc.oneof(
            fc.string({ maxLength: 200 }).map(headerSafe),
            latin1,
            fc.stringMatching(/^[A-Za-z0-9_-]{1,300}\.[A-Za-z0-9_-]{1,300}\.[A-Za-z0-9_-]{0,300}$/),
            fc.stringMatching(/^kw_[A-Za-z0-9_-]{0,80}$/),
            fc.integer({ min: 8 * 1024, max: 14 * 1024 }).map((n) => 'e'.repeat(n)),
            fc.nat().map((at) => tamper(user.jwt, at)),
            fc.nat().map((at) => tamper(user.apiKey, at)),
            fc.constantFrom(`${user.jwt} ${user.jwt}`, `${user.jwt}.x`, `${user.apiKey}x`, 'null'),
          ),
        )
        .map(([scheme, value]) => ({
          value: `${scheme} ${value}`,
          // Never a credential: every value is tampered, doubled, suffixed or garbled (a
          // trailing tab would not do: HTTP trims it, and the real key is left).
          forged: true,
        })),
      fc.constant({ value: 'Bearer', forged: true }),
    );
    const cookieArb = fc.oneof(
      fc.constant(undefined),
      fc
        .array(
          fc.tuple(
            fc.constantFrom(
              '__Host-kw_access',
              '__Secure-kw_refresh',
              '__Host-kw_csrf',
              'kw_access',
              'a',
              '__proto__',
            ),
            fc.oneof(
              fc.stringMatching(/^[A-Za-z0-9._~-]{0,200}$/),
              fc.nat().map((at) => tamper(user.jwt, at)),
              fc.integer({ min: 1000, max: 4000 }).map((n) => 'c'.repeat(n)),
            ),
          ),
          { maxLength: 6 },
        )
        .map((pairs) => pairs.map(([n, v]) => `${n}=${v}`).join('; ')),
      // Over Node's header limit: Node itself answers 431 and closes.
      fc
        .integer({ min: NODE_HEADER_LIMIT, max: NODE_HEADER_LIMIT * 2 })
        .map((n) => `big=${'x'.repeat(n)}`),
    );
    const caseArb = fc.record({
      route: fc.constantFrom(...routes),
      auth: fc.option(forgedAuth, { nil: undefined }),
      repeatAuth: fc.boolean(),
      cookie: cookieArb,
      repeatCookie: fc.boolean(),
      csrf: fc.option(fc.string({ maxLength: 100 }).map(headerSafe), { nil: undefined }),
      requestId: fc.option(latin1, { nil: undefined }),
      origin: fc.option(fc.constantFrom('null', 'https://evil.example', 'http://127.0.0.1'), {
        nil: undefined,
      }),
      forwardedFor: fc.option(fc.constantFrom('1.2.3.4', '::1, 10.0.0.1', 'garbage', ''), {
        nil: undefined,
      }),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const plan = planFor(c.route);
        const path = pathOf(c.route);
        const body = plan.body ? serialize(obj(plan.body)) : undefined;
        const headers: RawHeaders = {
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(c.auth
            ? { authorization: c.repeatAuth ? [c.auth.value, c.auth.value] : c.auth.value }
            : {}),
          ...(c.cookie !== undefined
            ? { cookie: c.repeatCookie ? [c.cookie, c.cookie] : c.cookie }
            : {}),
          ...(c.csrf !== undefined ? { 'x-csrf-token': [c.csrf, c.csrf] } : {}),
          ...(c.requestId !== undefined ? { 'x-request-id': c.requestId } : {}),
          ...(c.origin !== undefined ? { origin: c.origin } : {}),
          ...(c.forwardedFor !== undefined ? { 'x-forwarded-for': c.forwardedFor } : {}),
        };
        const res = await send(c.route.method, path, headers, body);
        assertDocumented(path, res, true);
        // docs/reference.md "Tokens"/"Cookies": nothing forged gets in. With no real credential
        // anywhere in the request, a protected route can only answer 401 (or 431 from Node itself).
        if (!c.route.isPublic && res.status !== 431) {
          expect({ route: path, status: res.status }).toEqual({ route: path, status: 401 });
        }
        assertPrototypesClean();
      }),
      fuzzOptions(RUNS * 4),
    );
  }, 120_000);

  it('answers hostile query strings and path parameters with a documented status', async () => {
    const queryArb = fc
      .array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom('days', 'limit', 'before', 'event', 'userId', 'access_token', 'token'),
            fc.constantFrom('__proto__', '__proto__[polluted]', 'constructor[prototype][polluted]'),
            fc.string({ maxLength: 20 }),
          ),
          fc.oneof(
            fc.constantFrom(
              '1',
              '0',
              '-1',
              '366',
              '367',
              '1e3',
              '0x10',
              'NaN',
              '',
              '%00',
              '%ZZ',
              'yes',
            ),
            edgeString,
          ),
        ),
        { maxLength: 5 },
      )
      .map((pairs) =>
        pairs
          .map(([k, v]) => {
            // Keep a few raw (malformed percent-escapes), encode the rest.
            const raw = /^%/.test(v) || /\[/.test(k);
            return `${raw ? k : percent(k)}=${raw ? v : percent(v)}`;
          })
          .join('&'),
      );
    const idArb = fc.oneof(
      fc.uuid(),
      fc.constantFrom('..', '%2e%2e%2f', '%00', 'null', '__proto__', '0', '-1', 'a'.repeat(2000)),
      fc.string({ maxLength: 50 }),
    );
    const caseArb = fc.record({
      route: fc.constantFrom(...routes.filter((r) => r.method === 'GET' || r.path.includes(':'))),
      query: queryArb,
      id: idArb,
      credential: fc.constantFrom<Credential>(
        'user-jwt',
        'admin-jwt',
        'user-key',
        'user-cookie',
        'none',
      ),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ route, query: fuzzed, id, credential }) => {
        // docs/reference.md "Tokens": a token in the URL query is never a credential.
        const tokenInQuery = credential === 'none' && fuzzed.length % 2 === 0;
        const query = tokenInQuery ? `${fuzzed}&access_token=${user.jwt}` : fuzzed;
        // The id goes in raw when it is already an escape sequence, else percent-encoded.
        const rawId = /^%|^\.\.$/.test(id) ? id : percent(id);
        const plan = planFor(route);
        // Only harmless credentials here: fuzzing DELETE /keys/:id as the owner is fine
        // (random ids), but never PATCH a real user other than the victim.
        const path = `${route.path.includes('/admin/users/') && route.method === 'PATCH' ? pathOf(route) : route.path.replace(/:[A-Za-z]+/g, rawId)}${query ? `?${query}` : ''}`;
        const body = plan.body ? serialize(obj(plan.body)) : undefined;
        const res = await sendAs(credential, route.method, path, body);
        assertDocumented(path, res);
        if (tokenInQuery && !route.isPublic) {
          // The router refuses a malformed or over-long path segment before any credential
          // is read (http-app.ts frameworkErrors): a 400 then, otherwise 401; never a 2xx.
          const routerRefused =
            res.status === 400 && res.text.includes('malformed or over-long path segment');
          expect({ path, status: routerRefused ? 401 : res.status }).toEqual({ path, status: 401 });
        }
        assertPrototypesClean();
      }),
      fuzzOptions(RUNS * 3),
    );
  }, 120_000);

  it('never let a fuzzed input forge a log line or leak a credential into the logs', () => {
    expect(h.t.logs.length).toBeGreaterThan(requests / 2);
    for (const line of h.t.logs) {
      // One JSON object per line: a CR/LF in user input cannot start a forged line.
      expect(() => JSON.parse(line) as unknown).not.toThrow();
      expect(line).not.toContain(PASSWORD);
      expect(line).not.toContain(user.apiKey);
      expect(line).not.toContain(user.jwt.split('.')[2]);
      expect(line).not.toContain(admin.jwt.split('.')[2]);
    }
    assertPrototypesClean();
  });
});
