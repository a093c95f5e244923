import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import {
  dispatcherFetch,
  dispatchRequest,
  timedFetch,
  UpstreamBodyTooLarge,
  UpstreamResponse,
  type UpstreamTarget,
  upstreamTarget,
} from './upstream-fetch';

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
      (response as unknown as UpstreamResponse).discard();
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

describe('dispatchRequest (the dispatch handler every upstream call reads its answer with)', () => {
  const agent = new Agent({ keepAliveTimeout: 1000 });
  afterAll(() => agent.close());

  /** A loopback server whose handler writes the answer itself (chunks, stalls, resets). */
  async function rawServer(handle: (req: IncomingMessage, res: ServerResponse) => void) {
    const http: Server = createServer(handle);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1/x`;
    return {
      target: upstreamTarget(url),
      close: () => {
        http.closeAllConnections();
        return new Promise((resolve) => http.close(resolve));
      },
    };
  }

  const post = (target: UpstreamTarget, signal?: AbortSignal) =>
    dispatchRequest(agent, target, { method: 'POST', headers: {}, body: '{}', signal });

  /** Writes `total` bytes in 64 KiB chunks, waiting for 'drain'; resolves when all were handed over. */
  async function writeBytes(
    res: ServerResponse,
    total: number,
    progress = { written: 0 },
  ): Promise<void> {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    while (progress.written < total) {
      if (res.destroyed) return;
      const full = !res.write(chunk);
      progress.written += chunk.length;
      if (full) await once(res, 'drain');
    }
    res.end();
  }

  it('collects a body written in several chunks into one Buffer', async () => {
    const upstream = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"a":');
      setTimeout(() => res.end('"b"}'), 20);
    });
    try {
      const response = await post(upstream.target);
      expect((await response.collect(1024)).toString()).toBe('{"a":"b"}');
      expect(response.bodyUsed).toBe(true);
    } finally {
      await upstream.close();
    }
  });

  it('aborts a body past the bound given to collect', async () => {
    let closedEarly = 0;
    const upstream = await rawServer((_req, res) => {
      res.once('close', () => {
        if (!res.writableFinished) closedEarly += 1;
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      void writeBytes(res, 8 * 1024 * 1024);
    });
    try {
      const response = await post(upstream.target);
      await expect(response.collect(1024 * 1024)).rejects.toBeInstanceOf(UpstreamBodyTooLarge);
      // The exchange was cut: upstream's response closed before it finished writing.
      for (let i = 0; i < 50 && closedEarly < 1; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(closedEarly).toBe(1);
    } finally {
      await upstream.close();
    }
  });

  it('stops reading upstream while the consumer is busy (back-pressure), then delivers the rest', async () => {
    const total = 64 * 1024 * 1024; // more than both sockets' kernel buffers can hold
    const server = { written: 0 };
    const upstream = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      void writeBytes(res, total, server);
    });
    try {
      const response = await post(upstream.target);
      let received = 0;
      let calls = 0;
      let release: (() => void) | undefined;
      const ended = new Promise<void>((resolve, reject) => {
        response.pipe({
          data(chunk) {
            calls += 1;
            received += chunk.length;
            if (calls === 1) return new Promise<void>((resolve) => (release = resolve));
            return undefined;
          },
          end: resolve,
          error: reject,
        });
      });
      // Until the server's writes stall (the kernel buffers full), or it wrote everything.
      let last = -1;
      while (server.written !== last && server.written < total) {
        last = server.written;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      // Held: one chunk handed over, and upstream could not write everything.
      expect(calls).toBe(1);
      expect(server.written).toBeLessThan(total);
      release?.();
      await ended;
      expect(received).toBe(total);
      expect(server.written).toBe(total);
    } finally {
      await upstream.close();
    }
  });

  it('reports an upstream that closes mid-body as an error, to a consumer and to collect', async () => {
    const upstream = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-length': '100' });
      res.write('data: {}\n\n');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    try {
      const piped = await post(upstream.target);
      const chunks: string[] = [];
      const error = await new Promise<Error>((resolve, reject) => {
        piped.pipe({
          data: (chunk) => void chunks.push(chunk.toString()),
          end: () => reject(new Error('ended normally')),
          error: resolve,
        });
      });
      expect(chunks.join('')).toBe('data: {}\n\n');
      expect(error).toBeInstanceOf(Error);
      await expect((await post(upstream.target)).collect(1024)).rejects.toBeInstanceOf(Error);
    } finally {
      await upstream.close();
    }
  });

  it('aborts with the signal: before the headers (rejected) and mid-body (the consumer told)', async () => {
    let requests = 0;
    let closedEarly = 0;
    const upstream = await rawServer((req, res) => {
      requests += 1;
      res.once('close', () => {
        if (!res.writableFinished) closedEarly += 1;
      });
      if (requests === 1) return; // never answers
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {}\n\n');
    });
    try {
      const early = new AbortController();
      const waiting = post(upstream.target, early.signal);
      setTimeout(() => early.abort(new Error('deadline')), 50);
      await expect(waiting).rejects.toThrow('deadline');

      const late = new AbortController();
      const response = await post(upstream.target, late.signal);
      const error = new Promise<Error>((resolve, reject) => {
        response.pipe({
          data: () => {
            late.abort(new Error('client gone'));
          },
          end: () => reject(new Error('ended normally')),
          error: resolve,
        });
      });
      await expect(error).resolves.toThrow('client gone');
      // Both exchanges were cut on the upstream side, not left running.
      for (let i = 0; i < 50 && closedEarly < 2; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(closedEarly).toBe(2);
    } finally {
      await upstream.close();
    }
  });
});
