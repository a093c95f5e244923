import { Readable } from 'node:stream';
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
 * as an async iterable, which its retry path cancels), over one `UpstreamExchange`. Keyward's
 * own calls read the body without a stream: `collect` (a whole answer, bounded) or `pipe`
 * (an SSE body, chunk by chunk, with back-pressure).
 */
export class UpstreamResponse {
  readonly ok: boolean;
  readonly statusText = '';
  readonly redirected = false;
  readonly type = 'basic';
  private used = false;
  private stream?: Readable;

  constructor(
    readonly url: string,
    readonly status: number,
    readonly headers: UpstreamHeaders,
    private readonly exchange: UpstreamExchange,
    private readonly timer?: UpstreamTimer,
  ) {
    this.ok = status >= 200 && status < 300;
  }

  /** A Node stream over the body, built on first use (only the SDK's retry path reads it). */
  get body(): Readable {
    this.stream ??= this.readable();
    return this.stream;
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  /** The body as text (`collect`'s `limit` applies). */
  async text(limit?: number): Promise<string> {
    return decodeUtf8(await this.collect(limit));
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.collect();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  /**
   * The whole body as one Buffer; past `limit` bytes the exchange is aborted and this
   * rejects with `UpstreamBodyTooLarge`. Reading a whole body is waiting on upstream too.
   */
  collect(limit = Number.POSITIVE_INFINITY): Promise<Buffer> {
    this.used = true;
    const reading = this.exchange.collect(limit);
    const timer = this.timer;
    if (!timer) return reading;
    timer.upstreamStarted();
    return reading.finally(() => timer.upstreamEnded());
  }

  /** Hands the body to `consumer` chunk by chunk (see `BodyConsumer`). */
  pipe(consumer: BodyConsumer): void {
    this.used = true;
    this.exchange.pipe(consumer);
  }

  /**
   * Stops reading the body early: a body already complete leaves its connection reusable,
   * an unfinished one is aborted (its connection closed).
   */
  discard(): void {
    if (this.stream) this.stream.destroy();
    else this.exchange.discard();
  }

  private readable(): Readable {
    this.used = true;
    let wake: (() => void) | undefined;
    const exchange = this.exchange;
    const stream = new Readable({
      read() {
        const resume = wake;
        wake = undefined;
        resume?.();
      },
      destroy(error, callback) {
        exchange.discard();
        callback(error);
      },
    });
    exchange.pipe({
      data(chunk) {
        if (stream.push(chunk)) return undefined;
        return new Promise<void>((resolve) => (wake = resolve));
      },
      end: () => stream.push(null),
      error: (error) => stream.destroy(error),
    });
    return stream;
  }
}

/**
 * The `fetch` given to the `openai` SDK: one `dispatchRequest` (an `UpstreamExchange`
 * dispatch handler) over Keyward's keep-alive dispatcher. Written by hand because no library adapts undici's dispatcher API to the
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
 * One request over `dispatcher`, stamped on `timer`, answered as an `UpstreamResponse` once
 * upstream's headers are in: what `dispatcherFetch` (the SDK's calls) and the relayed chat
 * routes (`OpenAIClientService.post`, with its target and headers built once) share.
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
    const response = await new UpstreamExchange(target, options.signal, timer).start(dispatcher, {
      origin: target.origin,
      path: target.path,
      method: options.method,
      headers: options.headers,
      body: options.body,
    });
    timer?.upstreamAnswered(response.status);
    return response;
  } finally {
    timer?.upstreamEnded();
  }
}

/**
 * Where a streamed upstream body goes, chunk by chunk (`UpstreamResponse.pipe`). Exactly one of
 * `end` or `error` is called, once every chunk was handed over and the last write settled.
 */
export interface BodyConsumer {
  /**
   * One chunk of the body. A returned promise holds upstream (the socket is no longer read)
   * until it settles: back-pressure from a slow client. A throw or a rejection ends the
   * exchange with that error (`error` is called with it).
   */
  data(chunk: Buffer): void | Promise<void>;
  end(): void;
  error(error: Error): void;
}

/** A non-streamed upstream answer grew past the bound `collect` was given. */
export class UpstreamBodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the upstream answer is larger than ${limit} bytes`);
    this.name = 'UpstreamBodyTooLarge';
  }
}

/** Chunks held while nobody reads them before undici is asked to stop reading the socket. */
const QUEUE_HIGH_WATER_BYTES = 64 * 1024;

/**
 * One upstream exchange as an undici dispatch handler (undici's handler API,
 * node_modules/undici/docs/docs/api/Dispatcher.md). It replaces `dispatcher.request()`,
 * which builds a `Readable` per response (its buffer list, events, and the async iterator
 * the relay read it with): a whole answer is collected into one Buffer, a streamed one is
 * handed to its consumer chunk by chunk, the socket paused while the consumer's write is
 * pending. The abort signal (deadline or client gone) ends the exchange at any point, also
 * while it waits for a connection.
 */
class UpstreamExchange implements Dispatcher.DispatchHandler {
  private controller?: Dispatcher.DispatchController;
  private abortReason?: Error;
  private head?: {
    resolve: (response: UpstreamResponse) => void;
    reject: (error: Error) => void;
  };
  /** Chunks not handed over yet (all of them when collecting), and their size. */
  private queue: Buffer[] = [];
  private queued = 0;
  private consumer?: BodyConsumer;
  private collecting = false;
  private limit = Number.POSITIVE_INFINITY;
  /** The consumer's last write is pending: nothing more is handed over until it settles. */
  private waiting = false;
  private ended = false;
  private failure?: Error;
  /** The consumer was told how it ended (or the caller got the failure instead of headers). */
  private finished = false;
  private readonly onAbort?: () => void;

  constructor(
    private readonly target: UpstreamTarget,
    private readonly signal: AbortSignal | undefined,
    private readonly timer: UpstreamTimer | undefined,
  ) {
    if (signal) {
      this.onAbort = () => this.abort(abortReason(signal));
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** Resolves at upstream's response headers. */
  start(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      this.head = { resolve, reject };
      if (this.signal?.aborted) this.fail(abortReason(this.signal));
      else dispatcher.dispatch(options, this);
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Aborted while it waited for a connection: nothing is sent.
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, HeaderValue>,
  ): void {
    if (statusCode < 200) return; // informational: the answer follows
    const head = this.head;
    this.head = undefined;
    head?.resolve(
      new UpstreamResponse(
        this.target.url,
        statusCode,
        new UpstreamHeaders(headers),
        this,
        this.timer,
      ),
    );
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.failure) return;
    if (this.consumer && !this.collecting && !this.waiting && this.queue.length === 0) {
      this.hand(chunk);
      return;
    }
    this.queued += chunk.length;
    if (this.queued > this.limit) {
      this.abort(new UpstreamBodyTooLarge(this.limit));
      return;
    }
    this.queue.push(chunk);
    // Nobody reads yet (a Readable's high-water mark), or a write is pending: stop the socket.
    if (this.waiting || (!this.consumer && this.queued > QUEUE_HIGH_WATER_BYTES)) {
      controller.pause();
    }
  }

  onResponseEnd(): void {
    this.ended = true;
    this.settle();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    this.fail(this.abortReason ?? error);
  }

  /** The whole body, at most `limit` bytes (more aborts the exchange). */
  collect(limit: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.collecting = true;
      this.limit = limit;
      if (this.queued > limit) this.abort(new UpstreamBodyTooLarge(limit));
      this.attach({
        data: () => undefined, // never called: the chunks stay queued, joined at the end
        end: () => {
          const { queue, queued } = this;
          this.queue = [];
          resolve(queue.length === 1 ? queue[0] : Buffer.concat(queue, queued));
        },
        error: reject,
      });
    });
  }

  /** Hands the body to `consumer` (see `BodyConsumer`). */
  pipe(consumer: BodyConsumer): void {
    this.attach(consumer);
  }

  /** Stops reading an unfinished body (undici closes its connection). */
  discard(): void {
    this.abort(new UpstreamBodyDiscarded());
    this.queue = [];
    // Nobody will read it: let go of the abort listener too.
    if (!this.consumer) this.finish();
  }

  private attach(consumer: BodyConsumer): void {
    if (this.consumer) throw new TypeError('the upstream body is read already');
    this.consumer = consumer;
    this.pump();
    if (!this.waiting && !this.failure) this.controller?.resume();
  }

  /** Hands the queued chunks over in order while no write is pending, then the end. */
  private pump(): void {
    if (!this.collecting) {
      while (!this.waiting && !this.failure && this.queue.length > 0) {
        const chunk = this.queue.shift() as Buffer;
        this.queued -= chunk.length;
        this.hand(chunk);
      }
    }
    this.settle();
  }

  private hand(chunk: Buffer): void {
    let pending: void | Promise<void>;
    try {
      pending = (this.consumer as BodyConsumer).data(chunk);
    } catch (error) {
      this.abort(asError(error));
      return;
    }
    if (!pending) return;
    this.waiting = true;
    this.controller?.pause();
    pending.then(
      () => {
        this.waiting = false;
        this.pump();
        if (!this.waiting && !this.failure) this.controller?.resume();
      },
      (error: unknown) => {
        this.waiting = false;
        this.abort(asError(error));
      },
    );
  }

  /** Tells the consumer how the body ended, once everything before the end was handed over. */
  private settle(): void {
    const consumer = this.consumer;
    if (this.finished || !consumer || this.waiting) return;
    if (this.failure) {
      this.finish();
      consumer.error(this.failure);
    } else if (this.ended && (this.collecting || this.queue.length === 0)) {
      this.finish();
      consumer.end();
    }
  }

  private abort(reason: Error): void {
    if (this.failure || this.finished) return;
    this.abortReason ??= reason;
    const controller = this.controller;
    if (!controller || this.ended) {
      // Not started yet (onRequestStart aborts it), or upstream already sent everything.
      this.fail(reason);
      return;
    }
    // Maybe inside one of undici's callbacks: stop the parser now, abort outside of it.
    controller.pause();
    this.failure = reason;
    queueMicrotask(() => {
      controller.abort(reason);
      this.fail(reason);
    });
  }

  private fail(error: Error): void {
    if (this.finished) return;
    this.failure ??= error;
    const head = this.head;
    if (head) {
      this.head = undefined;
      this.finish();
      head.reject(this.failure);
      return;
    }
    this.settle();
  }

  private finish(): void {
    this.finished = true;
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
  }
}

/** `discard` ended the exchange: nobody reads the body any more. */
class UpstreamBodyDiscarded extends Error {
  constructor() {
    super('the upstream body was discarded');
    this.name = 'UpstreamBodyDiscarded';
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('upstream call aborted');
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** UTF-8 text of a body, without a byte-order mark (as undici's `text()`). */
function decodeUtf8(bytes: Buffer): string {
  const bom = bytes.length > 2 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return bytes.toString('utf8', bom ? 3 : 0);
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
