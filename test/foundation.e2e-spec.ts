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
      .post('/health/live')
      .set('Content-Type', 'application/json')
      .send('{"broken": ')
      .expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.type).toBe('urn:keyward:problem:malformed_body');
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js|node_modules/);
  });

  it('refuses __proto__ keys while parsing', async () => {
    const res = await request(t.server)
      .post('/health/live')
      .set('Content-Type', 'application/json')
      .send('{"__proto__": {"polluted": true}}')
      .expect(400);
    expect(res.body.detail).toMatch(/forbidden key/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('answers a 2 MB body with 413', async () => {
    const big = JSON.stringify({ blob: 'x'.repeat(2 * 1024 * 1024) });
    const res = await request(t.server)
      .post('/health/live')
      .set('Content-Type', 'application/json')
      .send(big)
      .expect(413);
    expect(res.body.type).toBe('urn:keyward:problem:payload_too_large');
  });

  it('answers text/plain and multipart bodies with 415', async () => {
    const text = await request(t.server)
      .post('/health/live')
      .set('Content-Type', 'text/plain')
      .send('hi');
    expect(text.status).toBe(415);
    expect(text.body.type).toBe('urn:keyward:problem:unsupported_media_type');
    const form = await request(t.server)
      .post('/health/live')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send('a=b');
    expect(form.status).toBe(415);
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
  });

  it('relaxes the CSP only as much as Swagger UI needs, on /docs only', async () => {
    const ui = await request(t.server).get('/docs').redirects(1);
    expect(ui.headers['content-security-policy']).toContain("script-src 'self'");
    expect(ui.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const api = await request(t.server).get('/health/live');
    expect(api.headers['content-security-policy']).toContain("default-src 'none'");
  });
});
