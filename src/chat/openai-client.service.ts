import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import OpenAI, { AuthenticationError, type ClientOptions } from 'openai';
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import type { Readable } from 'node:stream';
import { Agent } from 'undici';
import { DomainError } from '../common/domain-error';
import { chatConfigSchema } from '../config/chat.config';
import type { KeywardConfig } from '../config/configuration';
import { resolveEnvironment } from '../config/environment';
import { SecretsService } from '../secrets/secrets.service';
import { Deadline, raceAbort } from './deadline';
import { describeUpstreamError, mapUpstreamError } from './upstream-errors';
import {
  discardBody,
  dispatcherFetch,
  timedFetch,
  UpstreamResponse,
  type UpstreamTimer,
} from './upstream-fetch';

const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';
/** One retry for transient faults (5xx, resets), always inside the deadline; never for 429. */
const MAX_RETRIES = 1;

type Fetch = NonNullable<ClientOptions['fetch']>;

/** A stream whose headers arrived: the body is read under the same deadline. */
export interface UpstreamStream {
  readonly body: Readable;
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
  private readonly apiKeyFile?: string;
  private apiKey?: string;
  private client?: OpenAI;

  constructor(
    config: ConfigService<KeywardConfig, true>,
    private readonly secrets: SecretsService,
  ) {
    const chat = config.get('chat', { infer: true });
    this.baseURL = chat.baseUrl ?? OPENAI_DEFAULT_BASE_URL;
    this.timeoutMs = chat.upstreamTimeoutMs;
    this.apiKeyFile = chat.apiKeyFile;
    this.fetch = keepAliveFetch(this.agent);
    this.useKey(chat.apiKey);
    // SECRETS_PROVIDER=aws: a rotated key serves the next request, no restart.
    secrets.onChange(['OPENAI_API_KEY'], () => {
      this.useKey(secrets.get('OPENAI_API_KEY'));
      this.logger.log('OpenAI API key replaced from the secrets provider');
    });
  }

  assertConfigured(): void {
    if (!this.client) {
      throw new DomainError(
        'service_unavailable',
        'Chat is not configured on this server yet (no OpenAI API key). Ask the operator to set OPENAI_API_KEY.',
      );
    }
  }

  /** A whole completion, parsed; 502 when upstream answers 200 with something else. */
  async createCompletion(
    body: ChatCompletionCreateParamsNonStreaming,
    signal: AbortSignal,
    timing: UpstreamTimer,
  ): Promise<ChatCompletion> {
    const deadline = new Deadline(this.timeoutMs, signal);
    try {
      return await this.call(signal, deadline, async (client, combined) => {
        const completion: unknown = await client.chat.completions.create(body, {
          signal: combined,
          fetchOptions: timedFetch(timing),
        });
        if (!isChatCompletion(completion)) throw new InvalidUpstreamResponse();
        return completion;
      });
    } finally {
      deadline.clear();
    }
  }

  /**
   * Opens a streamed completion and returns once upstream's headers are in, so every failure before
   * the first byte is still an ordinary error response. The caller relays the raw SSE body
   * (docs/decisions.md "OpenAI proxy": ~1.7x the throughput of parse-and-resend) and clears the
   * deadline when done.
   */
  async openStream(
    body: ChatCompletionCreateParamsStreaming,
    signal: AbortSignal,
    timing: UpstreamTimer,
  ): Promise<UpstreamStream> {
    const deadline = new Deadline(this.timeoutMs, signal);
    try {
      const stream = await this.call(signal, deadline, async (client, combined) => {
        const response: unknown = await client.chat.completions
          .create(body, { signal: combined, fetchOptions: timedFetch(timing) })
          .asResponse();
        // Always ours: the client is built with `dispatcherFetch` (see `useKey`).
        if (!(response instanceof UpstreamResponse)) throw new InvalidUpstreamResponse();
        const type = response.headers.get('content-type') ?? '';
        if (!type.includes('text/event-stream')) {
          discardBody(response.body);
          throw new InvalidUpstreamResponse();
        }
        return response.body;
      });
      return { body: stream, deadline };
    } catch (error) {
      deadline.clear();
      throw error;
    }
  }

  /**
   * Re-reads the key from its secret source (docs/reference.md "Chat": on an upstream 401 the key
   * may have been rotated). Only a file source can change while the process runs; the same
   * resolution and schema as at start-up are applied. True when the key changed.
   */
  reloadKey(): boolean {
    if (!this.apiKeyFile) return false;
    let apiKey: string | undefined;
    try {
      // NODE_ENV=production only skips `.env`: the file is the one source that can rotate.
      const env = resolveEnvironment({
        NODE_ENV: 'production',
        OPENAI_API_KEY_FILE: this.apiKeyFile,
      });
      apiKey = chatConfigSchema.parse(env).apiKey;
    } catch {
      this.logger.warn('OPENAI_API_KEY_FILE could not be re-read; keeping the current key');
      return false;
    }
    if (!apiKey || apiKey === this.apiKey) return false;
    this.useKey(apiKey);
    this.logger.log('OpenAI API key reloaded from OPENAI_API_KEY_FILE');
    return true;
  }

  onApplicationShutdown(): Promise<void> {
    return this.agent.destroy();
  }

  private useKey(apiKey: string | undefined): void {
    this.apiKey = apiKey;
    this.client = apiKey
      ? new OpenAI({
          apiKey,
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
        })
      : undefined;
  }

  /** Runs one upstream exchange under the deadline; on a 401, once more with a reloaded key. */
  private async call<T>(
    clientSignal: AbortSignal,
    deadline: Deadline,
    send: (client: OpenAI, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    this.assertConfigured();
    // Aborted by the deadline or by the client leaving (Deadline listens to both).
    const signal = deadline.signal;
    try {
      return await raceAbort(send(this.client as OpenAI, signal), signal);
    } catch (error) {
      if (!(error instanceof AuthenticationError) || !(await this.reloadAfter401(signal))) {
        throw this.fail(error, deadline, clientSignal);
      }
    }
    try {
      return await raceAbort(send(this.client as OpenAI, signal), signal);
    } catch (error) {
      throw this.fail(error, deadline, clientSignal);
    }
  }

  /**
   * After an upstream 401 the key may have been rotated: re-read its file, or ask the
   * secrets provider now rather than at the next scheduled refresh (throttled there).
   * Within the request's deadline; any failure just means "no new key".
   */
  private async reloadAfter401(signal: AbortSignal): Promise<boolean> {
    if (this.reloadKey()) return true;
    return raceAbort(this.secrets.refresh(), signal).then(
      (changed) => changed.has('OPENAI_API_KEY'),
      () => false,
    );
  }

  private fail(error: unknown, deadline: Deadline, clientSignal: AbortSignal): DomainError {
    const mapped = mapUpstreamError(error, {
      deadlineExpired: deadline.expired,
      clientAborted: clientSignal.aborted,
    });
    // A client leaving is routine; anything else is worth a line (kind and status only).
    if (!clientSignal.aborted) {
      this.logger.warn(
        `upstream call failed: ${JSON.stringify({ ...describeUpstreamError(error), mappedTo: mapped.code })}`,
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
  return async (input, init) => {
    const response = await send(input, init);
    if (response.status === 429) response.headers.set('x-should-retry', 'false');
    return response;
  };
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
