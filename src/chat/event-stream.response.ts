import { once } from 'node:events';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SseSink } from './chat-stream.relay';

class ClientDisconnected extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientDisconnected';
  }
}

/**
 * An abort signal for "the client went away": the response closed before it finished. Passed down
 * to the upstream fetch, so a disconnect aborts the upstream request (docs/reference.md "Chat").
 */
export function abortOnDisconnect(raw: ServerResponse): AbortSignal {
  const controller = new AbortController();
  raw.once('close', () => {
    if (raw.writableFinished) return;
    controller.abort(new ClientDisconnected());
    // A client that half-closes keeps the socket open for an answer nobody reads; without
    // this the connection would linger until the keep-alive timeout (and delay shutdown).
    raw.destroy();
  });
  return controller.signal;
}

/**
 * Takes the response over from Fastify and sends the SSE headers now, so the client sees
 * the stream start at once. Headers Fastify hooks already set (security headers, CORS)
 * are kept; `onSend` hooks do not run for a hijacked reply, so their part is added here.
 */
export function startEventStream(
  request: FastifyRequest,
  reply: FastifyReply,
  serverTiming: string,
): void {
  reply.hijack();
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) headers[name] = value;
  }
  reply.raw.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    // Tells nginx-style proxies not to buffer the stream.
    'x-accel-buffering': 'no',
    'x-request-id': String(request.id),
    'server-timing': serverTiming,
  });
  reply.raw.flushHeaders();
}

function noop(): void {}

/** Writes to the client's response, waiting for 'drain' when its buffer is full (back-pressure). */
export function responseSink(raw: ServerResponse, clientSignal: AbortSignal): SseSink {
  return {
    write(frame) {
      if (raw.destroyed || raw.writableEnded) throw new ClientDisconnected();
      // A promise only when the client must be waited for: most frames cost none.
      if (!raw.write(frame)) return once(raw, 'drain', { signal: clientSignal }).then(noop);
      return undefined;
    },
    end() {
      if (!raw.writableEnded) raw.end();
    },
  };
}
