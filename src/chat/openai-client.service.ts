import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { ClientOptions, OpenAI } from 'openai';
// The error classes alone (no client, no resources): the SDK itself loads on first use.
import { APIConnectionError, APIError, AuthenticationError } from 'openai/core/error';
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import type { CreateEmbeddingResponse, EmbeddingCreateParams } from 'openai/resources/embeddings';
import type {
  Response as OpenAIResponse,
  ResponseCreateParamsNonStreaming,
  ResponseCreateParamsStreaming,
} from 'openai/resources/responses/responses';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import { SecretsService } from '../secrets/secrets.service';
import type { RequestLog } from '../logging/request-log';
import { Deadline, raceAbort } from './deadline';
import { describeUpstreamError, mapUpstreamError } from './upstream-errors';
import {
  dispatcherFetch,
  dispatchRequest,
  timedFetch,
  type UpstreamHeaders,
  UpstreamResponse,
  type UpstreamTarget,
  upstreamTarget,
  type UpstreamTimer,
} from './upstream-fetch';

const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';
/** One retry for transient faults (5xx, resets), always inside the deadline; never for 429. */
const MAX_RETRIES = 1;

type Fetch = NonNullable<ClientOptions['fetch']>;
/** What every SDK call of this wrapper is given: the combined signal and the timed fetch. */
type CallOptions = { signal: AbortSignal; fetchOptions: ReturnType<typeof timedFetch> };

/** A non-streamed completion relayed as upstream sent it, with its parsed form for billing. */
export interface RelayedCompletion {
  readonly completion: ChatCompletion;
  /** Upstream's JSON text, sent to the client as is (no second serialisation). */
  readonly json: string;
}

/**
 * A bound on a non-streamed chat answer: past it upstream is broken (or hostile), and the
 * call fails as an invalid upstream answer instead of holding the memory (docs/reference.md
 * "Chat"). A completion with `top_logprobs: 20` on every token stays well below it.
 */
const MAX_COMPLETION_BYTES = 64 * 1024 * 1024;

/** A stream whose headers arrived: the body is read under the same deadline. */
export interface UpstreamStream {
  /** Read with `pipe` (the SSE relay). */
  readonly body: UpstreamResponse;
  readonly deadline: Deadline;
}

/**
 * The one wrapper around the official `openai` SDK (STYLE "wrap the outside world
 * thinly"). The key and base URL come from configuration only: no client header, base URL
 * or organisation can reach upstream, and the SDK is told not to read `OPENAI_*` variables
 * itself. Requests go through an undici keep-alive agent with a `fetch` built on undici's
 * dispatcher API (`upstream-fetch.ts`: no WHATWG streams on the hot path).
 */
@Injectable()
export class OpenAIClientService implements OnApplicationShutdown {
  private readonly logger = new Logger(OpenAIClientService.name);
  private readonly agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 });
  private readonly fetch: Fetch;
  private readonly baseURL: string;
  private readonly timeoutMs: number;
  private client?: OpenAI;
  private apiKey?: string;
  /** What `post` sends with every request: the key as Bearer, JSON both ways. */
  private postHeaders: Record<string, string> = {};
  /** `post`'s targets by path (see `target`). */
  private readonly targets = new Map<string, UpstreamTarget>();

  constructor(
    config: ConfigService<KeywardConfig, true>,
    private readonly secrets: SecretsService,
  ) {
    const chat = config.get('chat', { infer: true });
    this.baseURL = chat.baseUrl ?? OPENAI_DEFAULT_BASE_URL;
    this.timeoutMs = chat.upstreamTimeoutMs;
    this.fetch = keepAliveFetch(this.agent);
    this.useKey(chat.apiKey);
    // A key rotated in its file or at the provider serves the next request, no restart.
    secrets.onChange(['OPENAI_API_KEY'], () => {
      this.useKey(secrets.get('OPENAI_API_KEY'));
      this.logger.log('OpenAI API key replaced (secret file or provider)');
    });
  }

  assertConfigured(): void {
    if (!this.apiKey) {
      throw new DomainError(
        'service_unavailable',
        'Chat is not configured on this server yet (no OpenAI API key). Ask the operator to set OPENAI_API_KEY.',
      );
    }
  }

  /** A whole completion, parsed; 502 when upstream answers 200 with something else. */
  createCompletion(
    body: ChatCompletionCreateParamsNonStreaming,
    signal: AbortSignal,
    timing: UpstreamTimer,
    log: RequestLog,
  ): Promise<ChatCompletion> {
    return this.json(
      signal,
      timing,
      (client, options) => client.chat.completions.create(body, options),
      isChatCompletion,
      log,
    );
  }

  /**
   * Opens a streamed completion and returns once upstream's headers are in, so every failure before
   * the first byte is still an ordinary error response. The caller relays the raw SSE body
   * (docs/decisions.md "OpenAI proxy": ~1.7x the throughput of parse-and-resend) and clears the
   * deadline when done.
   */
  openStream(
    body: ChatCompletionCreateParamsStreaming,
    signal: AbortSignal,
    timing: UpstreamTimer,
    log: RequestLog,
  ): Promise<UpstreamStream> {
    return this.eventStream(
      signal,
      timing,
      (options) => this.post('/chat/completions', body, options.signal, timing),
      log,
    );
  }

  /**
   * `/v1/chat/completions` without the stream: the body goes upstream as JSON and the
   * answer comes back as upstream's text (relayed as is) with its parsed form (billing).
   * Same key, deadline, retry, key reload and error mapping as the SDK calls; the drop-in
   * route relays bytes, so it skips the SDK's request and response objects (see `post`).
   */
  async relayCompletion(
    body: ChatCompletionCreateParamsNonStreaming,
    signal: AbortSignal,
    timing: UpstreamTimer,
    log: RequestLog,
  ): Promise<RelayedCompletion> {
    const deadline = new Deadline(this.timeoutMs, signal);
    try {
      return await this.call(signal, deadline, log, async (combined) => {
        const response = await this.post('/chat/completions', body, combined, timing);
        const json = await response.text(MAX_COMPLETION_BYTES);
        // A truncated or non-JSON 200 throws here: 502, and billed (upstream answered 2xx).
        const completion: unknown = JSON.parse(json);
        if (!isChatCompletion(completion)) throw new InvalidUpstreamResponse();
        return { completion, json };
      });
    } finally {
      deadline.clear();
    }
  }

  /** A whole Responses API object (`POST /responses`). */
  createResponse(
    body: ResponseCreateParamsNonStreaming,
    signal: AbortSignal,
    timing: UpstreamTimer,
    log: RequestLog,
  ): Promise<OpenAIResponse> {
    return this.json(
      signal,
      timing,
      (client, options) => client.responses.create(body, options),
      isResponseObject,
      log,
    );
  }

  /** A streamed Responses API call, opened like `openStream`. */
  openResponseStream(
    body: ResponseCreateParamsStreaming,
    signal: AbortSignal,
    timing: UpstreamTimer,
    log: RequestLog,
  ): Promise<UpstreamStream> {
    return this.eventStream(
      signal,
      timing,
      async (options) => (await this.sdkClient()).responses.create(body, options).asResponse(),
      log,
    );
  }

  retrieveResponse(
    id: string,
    signal: AbortSignal,
    timing: UpstreamTimer,
    log: RequestLog,
  ): Promise<OpenAIResponse> {
    return this.json(
      signal,
      timing,
      (client, options) => client.responses.retrieve(id, {}, options),
      isResponseObject,
      log,
    );
  }

  async deleteResponse(
    id: string,
    signal: AbortSignal,
    timing: UpstreamTimer,
    log: RequestLog,
  ): Promise<void> {
    await this.json(
      signal,
      timing,
      async (client, options) => {
        await client.responses.delete(id, options);
        return true;
      },
      (value): value is true => value === true,
      log,
    );
  }

  createEmbeddings(
    body: EmbeddingCreateParams,
    signal: AbortSignal,
    timing: UpstreamTimer,
    log: RequestLog,
  ): Promise<CreateEmbeddingResponse> {
    return this.json(
      signal,
      timing,
      (client, options) => client.embeddings.create(body, options),
      isEmbeddingList,
      log,
    );
  }

  /** One JSON exchange under the deadline; 502 when upstream answers 2xx with another shape. */
  private async json<T>(
    signal: AbortSignal,
    timing: UpstreamTimer,
    send: (client: OpenAI, options: CallOptions) => Promise<unknown>,
    isExpected: (value: unknown) => value is T,
    log: RequestLog,
  ): Promise<T> {
    const deadline = new Deadline(this.timeoutMs, signal);
    try {
      return await this.call(signal, deadline, log, async (combined) => {
        const client = await this.sdkClient();
        const value = await send(client, { signal: combined, fetchOptions: timedFetch(timing) });
        if (!isExpected(value)) throw new InvalidUpstreamResponse();
        return value;
      });
    } finally {
      deadline.clear();
    }
  }

  /** Opens an SSE exchange: resolves with the body once upstream's headers are in. */
  private async eventStream(
    signal: AbortSignal,
    timing: UpstreamTimer,
    open: (options: CallOptions) => Promise<unknown>,
    log: RequestLog,
  ): Promise<UpstreamStream> {
    const deadline = new Deadline(this.timeoutMs, signal);
    try {
      const stream = await this.call(signal, deadline, log, async (combined) => {
        const response = await open({ signal: combined, fetchOptions: timedFetch(timing) });
        // Always ours: the client is built with `dispatcherFetch` (see `sdkClient`).
        if (!(response instanceof UpstreamResponse)) throw new InvalidUpstreamResponse();
        const type = response.headers.get('content-type') ?? '';
        if (!type.includes('text/event-stream')) {
          response.discard();
          throw new InvalidUpstreamResponse();
        }
        return response;
      });
      return { body: stream, deadline };
    } catch (error) {
      deadline.clear();
      throw error;
    }
  }

  onApplicationShutdown(): Promise<void> {
    return this.agent.destroy();
  }

  /**
   * One POST to upstream for the relayed chat routes, behaving as the SDK's own request
   * does for them: the server key as Bearer, one retry (after the SDK's back-off, or the
   * upstream's `retry-after(-ms)` under a minute) on a connection failure, 408, 409 or 5xx
   * (429 is marked not to retry, as `keepAliveFetch` marks it; `x-should-retry` is obeyed), and a
   * non-2xx answer thrown as the SDK's `APIError` subclass, so `mapUpstreamError` and the
   * 401 key reload treat both paths alike. Written here rather than through the SDK: its
   * per-call machinery (header merging, request and promise wrappers, response parsing)
   * was ~30% of the bytes allocated per proxied chat call (bench/NOTES.md, issue 17). The
   * request goes straight to the agent with headers built per key and the URL split once
   * (`dispatchRequest`), not through the SDK's `fetch`.
   */
  private async post(
    path: string,
    body: unknown,
    signal: AbortSignal,
    timing: UpstreamTimer,
  ): Promise<UpstreamResponse> {
    const payload = JSON.stringify(body);
    for (let retry = 0; ; retry += 1) {
      let response: UpstreamResponse;
      try {
        response = markNoRetryOn429(
          await dispatchRequest(
            this.agent,
            this.target(path),
            { method: 'POST', headers: this.postHeaders, body: payload, signal },
            timing,
          ),
        );
      } catch (error) {
        if (signal.aborted) throw error;
        if (retry < MAX_RETRIES) {
          await sleep(retryDelayMs(retry), undefined, { signal });
          continue;
        }
        throw new APIConnectionError({ cause: error as Error });
      }
      if (response.ok) return response;
      if (retry < MAX_RETRIES && shouldRetry(response)) {
        response.discard();
        await sleep(retryDelayMs(retry, response.headers), undefined, { signal });
        continue;
      }
      const text = await response.text(MAX_COMPLETION_BYTES).catch(() => '');
      const parsed = safeJson(text);
      // As the SDK's makeStatusError: `{error: {...}}` bodies, else the text as message.
      const errorBody =
        parsed && typeof parsed === 'object' && (parsed as { error?: unknown }).error == null
          ? { error: parsed }
          : parsed;
      throw APIError.generate(
        response.status,
        errorBody as object | undefined,
        parsed === undefined ? text : undefined,
        response.headers as unknown as Headers,
      );
    }
  }

  /** `post`'s URL for `path`, split for undici once (the base URL is fixed at start). */
  private target(path: string): UpstreamTarget {
    let target = this.targets.get(path);
    if (!target) {
      target = upstreamTarget(`${this.baseURL}${path}`);
      this.targets.set(path, target);
    }
    return target;
  }

  private useKey(apiKey: string | undefined): void {
    this.apiKey = apiKey;
    this.postHeaders = {
      authorization: `Bearer ${apiKey}`,
      'content-type': 'application/json',
      accept: 'application/json',
    };
    // The next SDK call builds a client with the new key (see `sdkClient`).
    this.client = undefined;
  }

  /**
   * The SDK client for the current key, built on first use: the relayed chat routes never
   * need it (see `post`), and loading the SDK costs ~5 MiB of RSS that an idle server does not
   * have to carry (docs/database.md "Memory and start time"). Called after
   * `assertConfigured`, so a key is set.
   */
  private async sdkClient(): Promise<OpenAI> {
    if (this.client) return this.client;
    const { OpenAI } = await import('openai');
    this.assertConfigured(); // the key may have been removed while the module loaded
    // A key replaced while the module loaded: build for the newest one (or keep a client
    // another call built meanwhile).
    this.client ??= new OpenAI({
      apiKey: this.apiKey,
      baseURL: this.baseURL,
      // Explicit nulls: otherwise the SDK reads OPENAI_ORG_ID / OPENAI_PROJECT_ID itself.
      organization: null,
      project: null,
      webhookSecret: null,
      maxRetries: MAX_RETRIES,
      timeout: this.timeoutMs,
      fetch: this.fetch,
      // The SDK's own logging may print request details; ours says what is safe.
      logLevel: 'off',
    });
    return this.client;
  }

  /** Runs one upstream exchange under the deadline; on a 401, once more with a reloaded key. */
  private async call<T>(
    clientSignal: AbortSignal,
    deadline: Deadline,
    log: RequestLog,
    send: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    this.assertConfigured();
    // Aborted by the deadline or by the client leaving (Deadline listens to both).
    const signal = deadline.signal;
    try {
      return await raceAbort(send(signal), signal);
    } catch (error) {
      if (!(error instanceof AuthenticationError) || !(await this.reloadAfter401(signal))) {
        throw this.fail(error, deadline, clientSignal, log);
      }
    }
    try {
      return await raceAbort(send(signal), signal);
    } catch (error) {
      throw this.fail(error, deadline, clientSignal, log);
    }
  }

  /**
   * After an upstream 401 the key may have been rotated: ask the secret sources now (its
   * file, or the provider rather than at its next scheduled refresh) instead of waiting.
   * The key itself arrives through the `onChange` subscription. Within the request's
   * deadline; any failure just means "no new key".
   */
  private reloadAfter401(signal: AbortSignal): Promise<boolean> {
    return raceAbort(this.secrets.refresh(), signal).then(
      (changed) => changed.has('OPENAI_API_KEY'),
      () => false,
    );
  }

  private fail(
    error: unknown,
    deadline: Deadline,
    clientSignal: AbortSignal,
    log: RequestLog,
  ): DomainError {
    const mapped = mapUpstreamError(error, {
      deadlineExpired: deadline.expired,
      clientAborted: clientSignal.aborted,
    });
    // A client leaving is routine; anything else is worth a line (kind and status only).
    if (!clientSignal.aborted) {
      log.warn(
        { upstream: describeUpstreamError(error), mappedTo: mapped.code },
        'upstream call failed',
      );
    }
    return mapped;
  }
}

/**
 * `fetch` over the keep-alive agent. An upstream 429 is marked `x-should-retry: false` (the
 * SDK honours it): the client gets 429 with Retry-After and backs off itself, instead of
 * the gateway retrying on top of the client's own retries.
 */
function keepAliveFetch(agent: Agent): Fetch {
  const send = dispatcherFetch(agent);
  return async (input, init) =>
    markNoRetryOn429(
      (await send(input, init)) as unknown as UpstreamResponse,
    ) as unknown as Response;
}

function markNoRetryOn429(response: UpstreamResponse): UpstreamResponse {
  if (response.status === 429) response.headers.set('x-should-retry', 'false');
  return response;
}

/** The SDK's retry rule: `x-should-retry` if upstream sent it, else 408, 409, 429 and 5xx. */
function shouldRetry(response: UpstreamResponse): boolean {
  const header = response.headers.get('x-should-retry');
  if (header === 'true') return true;
  if (header === 'false') return false;
  const status = response.status;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * The SDK's wait before a retry: upstream's `retry-after-ms` or `retry-after` when it is
 * under a minute, else 0.5 s doubling per retry, minus up to 25% jitter.
 */
function retryDelayMs(retry: number, headers?: UpstreamHeaders): number {
  let ms = Number.NaN;
  const afterMs = headers?.get('retry-after-ms');
  if (afterMs) ms = parseFloat(afterMs);
  const after = headers?.get('retry-after');
  if (Number.isNaN(ms) && after) {
    const seconds = parseFloat(after);
    ms = Number.isNaN(seconds) ? Date.parse(after) - Date.now() : seconds * 1000;
  }
  if (!Number.isFinite(ms) || ms < 0 || ms > 60_000) {
    ms = Math.min(500 * 2 ** retry, 8000) * (1 - Math.random() * 0.25);
  }
  return ms;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

class InvalidUpstreamResponse extends Error {
  constructor() {
    super('the upstream answered with an unexpected body');
    this.name = 'InvalidUpstreamResponse';
  }
}

function isChatCompletion(value: unknown): value is ChatCompletion {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { choices?: unknown }).choices) &&
    typeof (value as { model?: unknown }).model === 'string'
  );
}

function isResponseObject(value: unknown): value is OpenAIResponse {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { id?: unknown }).id === 'string' &&
    Array.isArray((value as { output?: unknown }).output)
  );
}

function isEmbeddingList(value: unknown): value is CreateEmbeddingResponse {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { data?: unknown }).data) &&
    typeof (value as { model?: unknown }).model === 'string'
  );
}
