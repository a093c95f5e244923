import request from 'supertest';
import { type ChatHarness, type ChatUser, startChatHarness } from './support/chat-harness';

/**
 * `POST /v1/chat/completions` is a Fastify route outside Nest's router
 * (src/chat/chat-completions.route.ts, docs/runtime.md "Request pipeline"). What the Nest
 * pipeline gave it for free is pinned here: OpenAI's error shape for failures raised before
 * the handler (body parsing, 413, 415) and by it (authentication, scope, CSRF, validation),
 * the headers of the Fastify hooks, CORS, and its operation in the OpenAPI document.
 */
describe('POST /v1/chat/completions outside Nest', () => {
  const origin = 'https://console.example';
  let h: ChatHarness;
  let alice: ChatUser;

  beforeAll(async () => {
    h = await startChatHarness({ CORS_ORIGINS: origin, BODY_LIMIT: '65536' });
    alice = await h.newUser();
  });
  afterAll(() => h.close());

  const hello = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] };
  const post = () => request(h.t.server).post('/v1/chat/completions');

  /** OpenAI's error body, with the headers every answer of the route carries. */
  function expectOpenAiError(res: request.Response, status: number, code: string): void {
    expect({
      status: res.status,
      code: (res.body as { error?: { code?: string } }).error?.code,
    }).toEqual({ status, code });
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const { error } = res.body as { error: Record<string, unknown> };
    expect(Object.keys(res.body as object)).toEqual(['error']);
    expect(error).toEqual({
      message: expect.any(String),
      type: expect.any(String),
      param: error.param === null ? null : expect.any(String),
      code,
    });
    expect(res.headers['x-request-id']).toMatch(/\S/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['server-timing']).toMatch(/^keyward;desc="Keyward overhead";dur=/);
  }

  it('answers a completion with the hooks’ headers', async () => {
    const res = await post()
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .set('X-Request-Id', 'route-ok-1')
      .send(hello)
      .expect(200);
    expect(res.body).toMatchObject({ object: 'chat.completion', model: 'gpt-4o-mini' });
    expect(res.headers['x-request-id']).toBe('route-ok-1');
    expect(res.headers['server-timing']).toMatch(/upstream;desc="OpenAI";dur=/);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
  });

  it('refuses a malformed JSON body in OpenAI’s shape (400)', async () => {
    const res = await post()
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .set('Content-Type', 'application/json')
      .send('{"model": "gpt-4o-mini", "messages": [');
    expectOpenAiError(res, 400, 'malformed_body');
  });

  it('refuses text/plain and form bodies in OpenAI’s shape (415)', async () => {
    const text = await post()
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .set('Content-Type', 'text/plain')
      .send(JSON.stringify(hello));
    expectOpenAiError(text, 415, 'unsupported_media_type');
    const form = await post()
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .type('form')
      .send({ model: 'gpt-4o-mini' });
    expectOpenAiError(form, 415, 'unsupported_media_type');
  });

  it('refuses a body over BODY_LIMIT in OpenAI’s shape (413)', async () => {
    const res = await post()
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .send({ ...hello, messages: [{ role: 'user', content: 'x'.repeat(70_000) }] });
    expectOpenAiError(res, 413, 'payload_too_large');
  });

  it('refuses a missing or unreadable credential (401) with the Bearer challenge', async () => {
    const none = await post().send(hello);
    expectOpenAiError(none, 401, 'unauthenticated');
    expect(none.headers['www-authenticate']).toBe('Bearer realm="keyward"');
    const bad = await post().set('Authorization', 'Basic abc').send(hello);
    expectOpenAiError(bad, 401, 'invalid_token');
    expect(bad.headers['www-authenticate']).toBe('Bearer realm="keyward", error="invalid_token"');
    const inUrl = await request(h.t.server)
      .post(`/v1/chat/completions?api_key=${alice.apiKey}`)
      .send(hello);
    expectOpenAiError(inUrl, 401, 'invalid_token');
    expect(h.mock.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(1);
  });

  it('refuses a key without the chat scope (403 insufficient_scope, naming it)', async () => {
    const key = await request(h.t.server)
      .post('/api/v1/keys')
      .set('Authorization', `Bearer ${alice.jwt}`)
      .send({ name: 'usage only', scopes: ['usage'] })
      .expect(201);
    const res = await post()
      .set('Authorization', `Bearer ${(key.body as { key: string }).key}`)
      .send(hello);
    expectOpenAiError(res, 403, 'insufficient_scope');
    expect(res.body.error.type).toBe('permission_error');
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="keyward", error="insufficient_scope", scope="chat"',
    );
  });

  it('asks a cookie session for its CSRF token, as every unsafe route does', async () => {
    const session = await request(h.t.server)
      .post('/api/v1/auth/session')
      .send({ username: alice.username, password: 'a-long-Unusual-pass-42' })
      .expect(200);
    const lines = session.headers['set-cookie'] as unknown as string[];
    const cookie = lines.map((line) => line.split(';')[0]).join('; ');
    const refused = await post().set('Cookie', cookie).send(hello);
    expectOpenAiError(refused, 403, 'csrf_failed');
    await post()
      .set('Cookie', cookie)
      .set('X-CSRF-Token', session.body.csrfToken as string)
      .send(hello)
      .expect(200);
  });

  it('refuses an invalid body in OpenAI’s shape, naming the field', async () => {
    const res = await post()
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .send({ ...hello, temperature: 'hot' });
    expectOpenAiError(res, 400, 'validation_failed');
    expect(res.body.error.param).toBe('temperature');
    const notObject = await post().set('Authorization', `Bearer ${alice.apiKey}`).send([1]);
    expectOpenAiError(notObject, 400, 'validation_failed');
  });

  it('answers the CORS preflight and marks responses readable for a listed origin', async () => {
    const preflight = await request(h.t.server)
      .options('/v1/chat/completions')
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers['access-control-allow-origin']).toBe(origin);
    expect(preflight.headers['access-control-allow-credentials']).toBe('true');
    const ok = await post()
      .set('Origin', origin)
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .send(hello)
      .expect(200);
    expect(ok.headers['access-control-allow-origin']).toBe(origin);
    expect(ok.headers['access-control-expose-headers']).toContain('Server-Timing');
    const refused = await post().set('Origin', origin).send(hello).expect(401);
    expect(refused.headers['access-control-allow-origin']).toBe(origin);
    const stream = await post()
      .set('Origin', origin)
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .send({ ...hello, stream: true })
      .expect(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers['access-control-allow-origin']).toBe(origin);
    const other = await post()
      .set('Origin', 'https://evil.example')
      .set('Authorization', `Bearer ${alice.apiKey}`)
      .send(hello)
      .expect(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('counts the route in /metrics under its own path', async () => {
    const admin = await h.newUser({ roles: ['admin'] });
    const metrics = await request(h.t.server)
      .get('/metrics')
      .set('Authorization', `Bearer ${admin.jwt}`)
      .expect(200);
    expect(metrics.text).toMatch(
      /keyward_http_requests_total\{[^}]*route="\/v1\/chat\/completions"[^}]*status="200"[^}]*\} \d+/,
    );
  });

  it('is described in /docs-json as the controller described it', async () => {
    const doc = await request(h.t.server).get('/docs-json').expect(200);
    const paths = Object.keys(doc.body.paths as object);
    expect(paths.indexOf('/v1/chat/completions')).toBe(paths.indexOf('/v1/models/{id}') + 1);
    const operation = doc.body.paths['/v1/chat/completions'].post;
    expect(operation.summary).toMatch(/^OpenAI chat completion; `stream: true`/);
    expect(operation.tags).toEqual(['openai-compatible']);
    expect(operation.operationId).toBe('ChatCompletionsController_create');
    // No security of its own: the document's requirements (bearer, oauth2, cookie) apply.
    expect(operation.security).toBeUndefined();
    expect(operation.description).toMatch(/^Image parts: at most CHAT_MAX_IMAGES per request/);
    expect(operation.responses['200'].description).toBe(
      'An OpenAI chat.completion object, or a text/event-stream of chunks',
    );
    const schema = operation.requestBody.content['application/json'].schema;
    expect(operation.requestBody.required).toBe(true);
    expect(schema.required).toEqual(['messages']); // `model` defaults to the configured default model
    expect(Object.keys(schema.properties as object)).toEqual(
      expect.arrayContaining(['model', 'messages', 'stream', 'max_completion_tokens']),
    );
    expect(Object.keys(doc.body.paths['/v1/chat/completions'] as object)).toEqual(['post']);
  });
});
