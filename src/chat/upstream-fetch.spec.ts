import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { discardBody, dispatcherFetch, timedFetch, UpstreamResponse } from './upstream-fetch';

/** A real loopback server that records what reached it. */
async function server(
  handle: (req: IncomingMessage, body: string) => [number, Record<string, string>, string],
) {
  const seen: Array<{ url?: string; headers: IncomingMessage['headers']; body: string }> = [];
  const http: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ url: req.url, headers: req.headers, body });
      const [status, headers, text] = handle(req, body);
      res.writeHead(status, headers).end(text);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return { origin, seen, close: () => new Promise((resolve) => http.close(resolve)) };
}

describe('dispatcherFetch (the fetch the openai SDK is given)', () => {
  const agent = new Agent({ keepAliveTimeout: 1000 });
  const fetch = dispatcherFetch(agent);
  afterAll(() => agent.close());

  it('sends method, headers and body, and reads status, headers and JSON back', async () => {
    const upstream = await server(() => [
      201,
      { 'content-type': 'application/json', 'x-request-id': 'req_1' },
      '{"ok":true}',
    ]);
    try {
      const headers = new Headers({ Authorization: 'Bearer sk-test', 'Content-Type': 'text/x' });
      const response = (await fetch(`${upstream.origin}/v1/x`, {
        method: 'POST',
        headers,
        body: 'hello',
      })) as unknown as UpstreamResponse;
      expect(response).toBeInstanceOf(UpstreamResponse);
      expect(response.status).toBe(201);
      expect(response.ok).toBe(true);
      expect(response.headers.get('X-Request-Id')).toBe('req_1');
      expect(response.headers.has('content-type')).toBe(true);
      expect([...response.headers.entries()]).toContainEqual(['x-request-id', 'req_1']);
      expect(await response.json()).toEqual({ ok: true });
      expect(upstream.seen[0]).toMatchObject({
        url: '/v1/x',
        body: 'hello',
        headers: { authorization: 'Bearer sk-test', 'content-type': 'text/x' },
      });
    } finally {
      await upstream.close();
    }
  });

  it('does not follow a redirect: the key never reaches the other origin', async () => {
    const elsewhere = await server(() => [200, {}, 'stolen']);
    const upstream = await server(() => [302, { location: `${elsewhere.origin}/grab` }, '']);
    try {
      const response = await fetch(`${upstream.origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-secret' },
        body: '{}',
      });
      expect(response.status).toBe(302);
      expect(response.ok).toBe(false);
      discardBody((response as unknown as UpstreamResponse).body);
      expect(elsewhere.seen).toHaveLength(0);
    } finally {
      await Promise.all([upstream.close(), elsewhere.close()]);
    }
  });

  it('reports network time and a 2xx answer to the timer passed through fetchOptions', async () => {
    const upstream = await server(() => [200, { 'content-type': 'application/json' }, '{}']);
    const calls: string[] = [];
    const timer = {
      upstreamStarted: () => calls.push('started'),
      upstreamEnded: () => calls.push('ended'),
      upstreamAnswered: (status: number) => calls.push(`answered ${status}`),
    };
    try {
      const response = await fetch(upstream.origin, timedFetch(timer) as RequestInit);
      await response.json();
      // Headers, then the whole body: two timed spans.
      expect(calls).toEqual(['started', 'answered 200', 'ended', 'started', 'ended']);
    } finally {
      await upstream.close();
    }
  });

  it('refuses a body it cannot send as is', async () => {
    await expect(
      fetch('http://127.0.0.1:9/', { method: 'POST', body: new URLSearchParams('a=1') }),
    ).rejects.toThrow(TypeError);
  });
});
