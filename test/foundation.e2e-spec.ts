import request from 'supertest';
import { createTestApp, type TestApp } from './support/test-app';

describe('HTTP foundation', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ OPENAI_API_KEY: 'sk-canary-foundation-0000000000000000' });
  });
  afterAll(() => t.close());

  it('answers liveness and readiness (database up)', async () => {
    await request(t.server).get('/health/live').expect(200, { status: 'ok' });
    const ready = await request(t.server).get('/health/ready').expect(200);
    expect(ready.body.info.database.status).toBe('up');
  });

  it('sends the security headers of the spec on every response', async () => {
    const res = await request(t.server).get('/health/live');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("sends helmet's headers on every answer, those refused before any handler included", async () => {
    const answers = await Promise.all([
      request(t.server).get('/health/live'),
      request(t.server).get('/api/v1/auth/me'),
      request(t.server).post('/api/v1/keys').type('form').send('name=b'),
      request(t.server).get('/api/v1/keys/%E0%A4%A'),
    ]);
    expect(answers.map((res) => res.status)).toEqual([200, 401, 415, 400]);
    for (const res of answers) {
      expect(res.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'referrer-policy': 'no-referrer',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-resource-policy': 'same-origin',
        'origin-agent-cluster': '?1',
        'x-dns-prefetch-control': 'off',
        'x-download-options': 'noopen',
        'x-permitted-cross-domain-policies': 'none',
        'x-xss-protection': '0',
        'strict-transport-security': 'max-age=31536000',
        'content-security-policy': expect.stringContaining("default-src 'none'"),
      });
    }
  });

  it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
    const good = await request(t.server).get('/health/live').set('X-Request-Id', 'abc-123');
    expect(good.headers['x-request-id']).toBe('abc-123');
    const bad = await request(t.server).get('/health/live').set('X-Request-Id', 'a b\tc');
    expect(bad.headers['x-request-id']).not.toBe('a b\tc');
  });

  it('answers an unknown route with 404 problem+json', async () => {
    const res = await request(t.server).get('/no/such/route').expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: 'urn:keyward:problem:not_found',
      status: 404,
      title: 'Not found',
    });
  });

  it('answers malformed JSON with 400 problem+json, never a stack trace', async () => {
    const res = await request(t.server)
      .post('/api/v1/keys')
      .set('Content-Type', 'application/json')
      .send('{"broken": ')
      .expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.type).toBe('urn:keyward:problem:malformed_body');
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js|node_modules/);
  });

  it('refuses __proto__ keys while parsing', async () => {
    const res = await request(t.server)
      .post('/api/v1/keys')
      .set('Content-Type', 'application/json')
      .send('{"__proto__": {"polluted": true}}')
      .expect(400);
    expect(res.body.detail).toMatch(/forbidden key/);
    const nested = await request(t.server)
      .post('/api/v1/auth/token')
      .set('Content-Type', 'application/json')
      .send('{"grant_type": "password", "constructor": {"prototype": {"polluted": true}}}')
      .expect(400);
    expect(nested.body.error).toBe('invalid_request');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses non-object bodies and constructor keys in the documented format', async () => {
    for (const body of ['[1,2]', '"text"', '42', 'null']) {
      const res = await request(t.server)
        .post('/api/v1/auth/token')
        .set('Content-Type', 'application/json')
        .send(body);
      expect({ body, status: res.status, error: res.body.error }).toEqual({
        body,
        status: 400,
        error: 'invalid_request',
      });
    }
    const ctor = await request(t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', constructor: { name: 'x' } })
      .expect(400);
    expect(ctor.body.error_description).toMatch(/forbidden key/);
  });

  it('answers a 2 MB body with 413', async () => {
    const big = JSON.stringify({ blob: 'x'.repeat(2 * 1024 * 1024) });
    const res = await request(t.server)
      .post('/api/v1/keys')
      .set('Content-Type', 'application/json')
      .send(big)
      .expect(413);
    expect(res.body.type).toBe('urn:keyward:problem:payload_too_large');
  });

  it('answers text/plain, form and multipart bodies on JSON routes with 415', async () => {
    // The media type is refused before authentication is even looked at.
    for (const [type, body] of [
      ['text/plain', 'hi'],
      ['application/x-www-form-urlencoded', 'name=b'],
      ['multipart/form-data; boundary=x', '--x--'],
    ]) {
      const res = await request(t.server).post('/api/v1/keys').set('Content-Type', type).send(body);
      expect({ type, status: res.status }).toEqual({ type, status: 415 });
      expect(res.body.type).toBe('urn:keyward:problem:unsupported_media_type');
    }
    // The token endpoint alone also takes forms (OAuth2).
    const token = await request(t.server)
      .post('/api/v1/auth/token')
      .type('form')
      .send('grant_type=password');
    expect(token.status).toBe(400);
  });

  it('writes one access line per request: method, redacted URL, status, time, request id', async () => {
    const res = await request(t.server)
      .get('/health/live?token=secret-in-query&x=1')
      .set('Authorization', 'Bearer not-logged')
      .expect(200);
    const id = res.headers['x-request-id'];
    const lines = t.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.reqId === id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      service: 'keyward',
      msg: 'request completed',
      req: { method: 'GET', url: '/health/live?token=[redacted]&x=1' },
      res: { statusCode: 200 },
      responseTime: expect.any(Number),
      time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    });
    expect(JSON.stringify(lines)).not.toMatch(/secret-in-query|not-logged/);
  });

  it('logs refusals without stack traces at error level', () => {
    const errors = t.logs.map((line) => JSON.parse(line)).filter((entry) => entry.level >= 50);
    expect(errors).toEqual([]);
  });

  it('serves Swagger UI and an OpenAPI document that holds no secret', async () => {
    const ui = await request(t.server).get('/docs').redirects(1);
    expect(ui.status).toBe(200);
    expect(ui.text).toContain('swagger-ui');
    const doc = await request(t.server).get('/docs-json').expect(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    const text = JSON.stringify(doc.body);
    expect(text).not.toContain('sk-canary-foundation');
    expect(text).not.toContain('PRIVATE KEY');
    for (const secret of t.config.cookies.secrets) expect(text).not.toContain(secret);
    // Public operations need no credential; the rest inherit the document's requirements.
    expect(doc.body.security).toEqual([{ oauth2: [] }, { bearer: [] }, { cookie: [] }]);
    expect(doc.body.paths['/health/live'].get.security).toEqual([]);
    expect(doc.body.paths['/api/v1/auth/token'].post.security).toEqual([]);
    // Public to the guard, but named its own credential: the refresh cookie.
    expect(doc.body.paths['/api/v1/auth/session/refresh'].post.security).toEqual([{ cookie: [] }]);
    expect(doc.body.paths['/api/v1/auth/me'].get.security).toBeUndefined();
    expect(text).not.toContain('x-keyward-public');
  });

  it('relaxes the CSP only as much as Swagger UI needs, on /docs only', async () => {
    const ui = await request(t.server).get('/docs').redirects(1);
    expect(ui.headers['content-security-policy']).toContain("script-src 'self'");
    expect(ui.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const api = await request(t.server).get('/health/live');
    expect(api.headers['content-security-policy']).toContain("default-src 'none'");
  });
});
