import type { Readable } from 'node:stream';
import type { ClientOptions } from 'openai';
import type { RequestOptions } from 'openai/internal/request-options';
import type { Dispatcher } from 'undici';

type Fetch = NonNullable<ClientOptions['fetch']>;
type HeaderValue = string | string[] | undefined;

/**
 * Watches one upstream exchange (`ChatTiming`): its network time for Server-Timing, and the
 * status upstream answered with (billing: a 2xx means upstream took the request on).
 */
export interface UpstreamTimer {
  upstreamStarted(): void;
  upstreamEnded(): void;
  upstreamAnswered(status: number): void;
}

const TIMER = Symbol('keyward.upstreamTimer');

/**
 * Per-call `fetchOptions` for the SDK, which passes them on to `fetch` as part of `init`:
 * how a timer reaches `dispatcherFetch` for one call.
 */
export function timedFetch(
  timer: UpstreamTimer | undefined,
): RequestOptions['fetchOptions'] | undefined {
  // A symbol key: the SDK spreads it along unchanged, and no real fetch option is hidden.
  return timer ? ({ [TIMER]: timer } as RequestOptions['fetchOptions']) : undefined;
}

/**
 * The response headers, read-only, over the object undici hands back (names already
 * lower-case). The SDK and Keyward only read headers (`get`, `has`, iteration), so a
 * WHATWG `Headers` (validation and a sorted copy per response) is not built.
 */
export class UpstreamHeaders {
  constructor(private readonly raw: Record<string, HeaderValue>) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }

  set(name: string, value: string): void {
    this.raw[name.toLowerCase()] = value;
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.raw)) {
      const value = this.get(name);
      if (value !== null) yield [name, value];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  forEach(callback: (value: string, name: string, headers: UpstreamHeaders) => void): void {
    for (const [name, value] of this.entries()) callback(value, name, this);
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/**
 * What the SDK reads of a fetch `Response` (status, headers, `json()`/`text()`, and `body`
 * as an async iterable, which its stream helpers accept), over undici's Node stream. The
 * SSE relay reads `body` directly: Node stream chunks, no WHATWG stream in between.
 */
export class UpstreamResponse {
  readonly ok: boolean;
  readonly statusText = '';
  readonly redirected = false;
  readonly type = 'basic';

  constructor(
    readonly url: string,
    readonly status: number,
    readonly headers: UpstreamHeaders,
    private readonly data: Dispatcher.ResponseData['body'],
    private readonly timer?: UpstreamTimer,
  ) {
    this.ok = status >= 200 && status < 300;
  }

  get body(): Readable {
    return this.data;
  }

  get bodyUsed(): boolean {
    return this.data.bodyUsed;
  }

  json(): Promise<unknown> {
    return this.timed(this.data.json());
  }

  text(): Promise<string> {
    return this.timed(this.data.text());
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.timed(this.data.arrayBuffer());
  }

  /** Reading a whole body is waiting on upstream too. */
  private timed<T>(reading: Promise<T>): Promise<T> {
    if (!this.timer) return reading;
    const timer = this.timer;
    timer.upstreamStarted();
    return reading.finally(() => timer.upstreamEnded());
  }
}

/**
 * The `fetch` given to the `openai` SDK: one `undici.request` over Keyward's keep-alive
 * dispatcher. Written by hand because no library adapts undici's dispatcher API to the
 * part of the Fetch API the SDK uses, and undici's own `fetch` (WHATWG Request/Response/
 * Headers and web streams on every call) was the largest single cost of a proxied
 * completion: measured sequentially against the mock, an SDK call took ~1.3 ms with
 * `fetch` and ~0.6 ms with this (bench/NOTES.md). Differences from `fetch`, all wanted for
 * an API upstream: redirects are not followed (the server key never goes to another
 * origin; a 3xx is an upstream error), and there is no CORS/cookie handling.
 */
export function dispatcherFetch(dispatcher: Dispatcher): Fetch {
  // async: like `fetch`, a bad URL or body rejects, it does not throw.
  const send = async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const body = init?.body;
    if (body !== undefined && body !== null && typeof body !== 'string' && !isBytes(body)) {
      throw new TypeError('upstream fetch: only string or byte bodies are supported');
    }
    return dispatchRequest(
      dispatcher,
      upstreamTarget(url),
      {
        method: init?.method ?? 'GET',
        headers: plainHeaders(init?.headers),
        body: body ?? undefined,
        signal: init?.signal ?? undefined,
      },
      (init as { [TIMER]?: UpstreamTimer } | undefined)?.[TIMER],
    );
  };
  // The SDK only reads what UpstreamResponse has (see above); its type names a full Response.
  return send as unknown as Fetch;
}

/** Where a request goes: undici's `origin` and `path`, and the URL they make. */
export interface UpstreamTarget {
  readonly url: string;
  readonly origin: string;
  readonly path: string;
}

/** Splits a URL as undici's `request(url)` does (parsed each time there; once for a fixed route). */
export function upstreamTarget(url: string): UpstreamTarget {
  const parsed = new URL(url);
  return {
    url,
    origin: parsed.origin,
    path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
  };
}

/**
 * One request over `dispatcher`, stamped on `timer`, answered as an `UpstreamResponse`: what
 * `dispatcherFetch` (the SDK's calls) and the relayed chat routes (`OpenAIClientService.post`,
 * with its target and headers built once) share.
 */
export async function dispatchRequest(
  dispatcher: Dispatcher,
  target: UpstreamTarget,
  options: {
    method: Dispatcher.HttpMethod;
    headers: Record<string, string>;
    body?: string | Uint8Array;
    signal?: AbortSignal;
  },
  timer?: UpstreamTimer,
): Promise<UpstreamResponse> {
  timer?.upstreamStarted();
  try {
    const response = await dispatcher.request({
      origin: target.origin,
      path: target.path,
      method: options.method,
      headers: options.headers,
      body: options.body,
      signal: options.signal,
    });
    timer?.upstreamAnswered(response.statusCode);
    return new UpstreamResponse(
      target.url,
      response.statusCode,
      new UpstreamHeaders(response.headers),
      response.body,
      timer,
    );
  } finally {
    timer?.upstreamEnded();
  }
}

/**
 * Stops reading an upstream body early and frees its connection. undici reports a body
 * destroyed before its end as an 'error' event (RequestAbortedError) that nobody else
 * listens to: it is expected here, so it is swallowed.
 */
export function discardBody(body: Readable): void {
  if (body.destroyed || body.readableEnded) return;
  body.on('error', () => undefined);
  body.destroy();
}

function isBytes(body: unknown): body is Uint8Array {
  return body instanceof Uint8Array;
}

function plainHeaders(headers: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  if (headers instanceof Headers) {
    headers.forEach((value, name) => {
      out[name] = value;
    });
  } else if (Array.isArray(headers)) {
    for (const [name, value] of headers) out[name.toLowerCase()] = value;
  } else {
    for (const [name, value] of Object.entries(headers as Record<string, string>)) {
      out[name.toLowerCase()] = value;
    }
  }
  return out;
}
