/**
 * A mock of the OpenAI HTTP API, close enough on the wire for the official `openai` SDK to
 * talk to it unchanged. Used by the e2e tests and for running Keyward offline.
 *
 * Answers are deterministic ("Mock reply to: <last user message>") and token counts follow a
 * fixed rule (ceil(chars / 4)), so tests can assert exact content and usage. Failure modes
 * (rate limits, resets, broken streams, stalls) are switched on globally with `setFault` or
 * per request with the `x-mock-fault` header, which keeps concurrent tests independent.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  crlfSplitWrites,
  invalidKeyMessage,
  type StructuredRequest,
  structuredContent,
  structuredRequest,
  successHeaders,
  toolCallDeltas,
  type ToolCallReply,
  toolCallFor,
} from './chat-tools';
import { embeddings } from './embeddings';
import { type MockExchange, usageMarkers } from './mock-exchange';
import { MockResponses } from './responses';

export const FAULT_MODES = [
  'unauthorized',
  'rate_limit',
  'server_error',
  'bad_gateway',
  'reset_before_headers',
  'reset_mid_stream',
  'malformed_sse',
  'never_ending_stream',
  'invalid_json',
  'slow_headers',
  'slow_loris',
  // Chat behaviours of the real API that a gateway must survive (chat-tools.ts):
  'no_usage',
  'context_length_exceeded',
  'invalid_tool_schema',
  'insufficient_quota',
  'rate_limit_reset_only',
  'crlf_framing',
  // A non-streamed chat answer that is cut or too large (Keyward's bound on a whole answer):
  'cut_body',
  'oversize_body',
  // A stream of LONG_STREAM_CHUNKS chunks (the reply's pieces over and over), for slow readers.
  'long_stream',
] as const;

export type FaultMode = (typeof FAULT_MODES)[number];

export const DEFAULT_API_KEY = 'sk-mock-keyward';

export interface MockOpenAIOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to bind; defaults to 127.0.0.1 so the mock is never exposed by accident. */
  host?: string;
  /** Key expected in `Authorization: Bearer <key>`; defaults to `sk-mock-keyward`. */
  apiKey?: string;
  /** Delay added before every response, to imitate network and model latency. */
  latencyMs?: number;
  /** Pause between streamed chunks; small but non-zero so chunks reach the client separately. */
  streamChunkDelayMs?: number;
  /** How long `slow_headers` stalls when the request has no `x-mock-delay-ms` header. */
  slowMs?: number;
  /** The `retry-after` header of the `rate_limit` fault, in seconds; defaults to 1. */
  rateLimitRetryAfter?: number;
}

export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  /** The raw request target, query string included. */
  url: string;
  /** Header names are lower-case; repeated headers are joined with ", ". */
  headers: Record<string, string>;
  /** Parsed JSON body; `undefined` when the body was empty, the raw text when it was not JSON. */
  body: unknown;
}

/** A `usage` object the mock sent, and where (chat, Responses, embeddings). */
export interface ReportedUsage {
  readonly path: string;
  readonly usage: Record<string, unknown>;
}

export interface MockOpenAI {
  /** Base URL to hand to an OpenAI client, e.g. `http://127.0.0.1:4010/v1`. */
  readonly url: string;
  /** Every request received, in arrival order, including rejected and faulted ones. */
  readonly requests: RecordedRequest[];
  /** Every `usage` object sent (JSON bodies, final stream chunks and events), in order. */
  readonly reportedUsage: ReportedUsage[];
  /** Requests whose client disconnected before the response was complete. */
  readonly abortedRequests: number;
  /** Applies a fault to every following request (null switches it off). */
  setFault(mode: FaultMode | null): void;
  setApiKey(key: string): void;
  /** Clears recorded requests, the global fault and the aborted-request count; keeps the key. */
  reset(): void;
  /** Sockets currently open to the mock, keep-alive ones included. */
  openConnections(): number;
  /** Stops listening, ends every in-flight response and destroys every socket. */
  close(): Promise<void>;
}

export async function startMockOpenAI(options: MockOpenAIOptions = {}): Promise<MockOpenAI> {
  const mock = new MockOpenAIServer(options);
  await mock.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return mock;
}

export function isFaultMode(value: string): value is FaultMode {
  return (FAULT_MODES as readonly string[]).includes(value);
}

// ---------------------------------------------------------------------------------------------
// Wire format

interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface ChatMessage {
  role: string;
  text: string;
}

interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | undefined;
  structured: StructuredRequest;
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

interface Reply {
  id: string;
  created: number;
  model: string;
  /** null when the answer is a tool call, as OpenAI sends it. */
  content: string | null;
  toolCall?: ToolCallReply;
  finishReason: 'stop' | 'length' | 'tool_calls';
  usage: Usage;
}

const MODELS = [
  { id: 'gpt-4o-mini', created: 1721172741 },
  { id: 'gpt-4o', created: 1715367049 },
  { id: 'gpt-4.1-mini', created: 1744318173 },
].map((model) => ({ ...model, object: 'model', owned_by: 'mock' }));

const MESSAGE_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];
const SYSTEM_FINGERPRINT = 'fp_mock0keyward';
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const MAX_DELAY_MS = 10 * 60 * 1000;
const NEVER_ENDING_CHUNK_MS = 200;
const SLOW_LORIS_BYTE_MS = 1000;
const CHUNKS_BEFORE_RESET = 2;
const WORDS_PER_CHUNK = 3;
/** How many content chunks `long_stream` sends (~1 MB of SSE). */
export const LONG_STREAM_CHUNKS = 5000;
/** `oversize_body`'s padding: twice Keyward's 64 MiB bound on a whole chat answer. */
const OVERSIZE_BODY_BYTES = 128 * 1024 * 1024;

const INVALID_API_KEY: OpenAIErrorBody = {
  error: {
    message: 'Incorrect API key provided.',
    type: 'invalid_request_error',
    param: null,
    code: 'invalid_api_key',
  },
};

const BAD_GATEWAY_HTML =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n' +
  '<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n' +
  '</body>\r\n</html>\r\n';

function openAIError(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

function invalidRequest(message: string, param: string | null = null, code: string | null = null) {
  return openAIError(message, 'invalid_request_error', param, code);
}

function countTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Cuts to at most `max` UTF-16 units without splitting a surrogate pair. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  const splitsPair = max > 0 && code >= 0xd800 && code <= 0xdbff;
  return text.slice(0, splitsPair ? max - 1 : max);
}

/** ~3 words per piece; whitespace stays attached so the pieces concatenate back exactly. */
function splitIntoPieces(content: string): string[] {
  const words = content.match(/\s*\S+\s*/g);
  if (!words) return content === '' ? [] : [content];
  const pieces: string[] = [];
  for (let i = 0; i < words.length; i += WORDS_PER_CHUNK) {
    pieces.push(words.slice(i, i + WORDS_PER_CHUNK).join(''));
  }
  return pieces;
}

function randomId(prefix: string, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let id = prefix;
  for (const byte of bytes) id += alphabet[byte % alphabet.length];
  return id;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a decimal';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function invalidType(param: string, expected: string, value: unknown): OpenAIErrorBody {
  return invalidRequest(
    `Invalid type for '${param}': expected ${expected}, but got ${jsonTypeName(value)} instead.`,
    param,
    'invalid_type',
  );
}

function messageText(content: unknown, param: string): string | OpenAIErrorBody {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return invalidType(param, 'one of a string or array', content);
  // Multi-part content: only text parts carry words we can echo or count.
  return content
    .map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

function parseMaxTokens(body: Record<string, unknown>): number | undefined | OpenAIErrorBody {
  // max_completion_tokens is the current name; max_tokens is its deprecated alias.
  const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const value = body[param];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    return invalidType(param, 'an integer', value);
  }
  if (value < 1) {
    return invalidRequest(
      `Invalid '${param}': integer below minimum value. Expected a value >= 1, but got ${value} instead.`,
      param,
      'integer_below_min_value',
    );
  }
  return value;
}

function parseChatRequest(body: unknown): ChatRequest | OpenAIErrorBody {
  if (!isRecord(body)) {
    return invalidRequest(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't " +
        'using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was ' +
        'sent was not valid JSON.)',
    );
  }
  const { model, messages, stream, stream_options: streamOptions } = body;
  if (model === undefined || model === null) {
    return invalidRequest('you must provide a model parameter');
  }
  if (typeof model !== 'string') return invalidType('model', 'a string', model);
  if (messages === undefined) {
    return invalidRequest(
      "Missing required parameter: 'messages'.",
      'messages',
      'missing_required_parameter',
    );
  }
  if (!Array.isArray(messages)) return invalidType('messages', 'an array', messages);
  if (messages.length === 0) {
    return invalidRequest(
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an " +
        'empty array instead.',
      'messages',
      'empty_array',
    );
  }

  const parsed: ChatMessage[] = [];
  for (const [index, message] of (messages as unknown[]).entries()) {
    const param = `messages[${index}]`;
    if (!isRecord(message)) return invalidType(param, 'an object', message);
    const { role } = message;
    if (typeof role !== 'string' || !MESSAGE_ROLES.includes(role)) {
      return invalidRequest(
        `Invalid value: '${String(role)}'. Supported values are: ` +
          "'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
        `${param}.role`,
        'invalid_value',
      );
    }
    const text = messageText(message.content, `${param}.content`);
    if (typeof text !== 'string') return text;
    parsed.push({ role, text });
  }

  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') {
    return invalidType('stream', 'a boolean', stream);
  }
  let includeUsage = false;
  if (streamOptions !== undefined && streamOptions !== null) {
    if (stream !== true) {
      return invalidRequest(
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        'stream_options',
      );
    }
    if (!isRecord(streamOptions)) return invalidType('stream_options', 'an object', streamOptions);
    includeUsage = streamOptions.include_usage === true;
  }

  const maxTokens = parseMaxTokens(body);
  if (typeof maxTokens === 'object') return maxTokens;

  return {
    model,
    messages: parsed,
    stream: stream === true,
    includeUsage,
    maxTokens,
    structured: structuredRequest(body),
  };
}

function buildReply(request: ChatRequest): Reply {
  const lastUser = request.messages.findLast((message) => message.role === 'user');
  const userText = truncate(lastUser?.text ?? '', 200);
  const toolCall = toolCallFor(request.structured, userText);
  let content = structuredContent(request.structured, 'Mock reply to: ' + userText);
  let finishReason: Reply['finishReason'] = toolCall ? 'tool_calls' : 'stop';
  if (!toolCall && request.maxTokens !== undefined && countTokens(content) > request.maxTokens) {
    content = truncate(content, request.maxTokens * 4);
    finishReason = 'length';
  }
  const promptTokens = request.messages.reduce((sum, m) => sum + countTokens(m.text) + 4, 0);
  const markers = usageMarkers(request.messages.map((m) => m.text).join('\n'));
  const cachedTokens = Math.min(markers.cached, promptTokens);
  const completionTokens = countTokens(toolCall ? toolCall.arguments : content) + markers.reasoning;
  return {
    id: randomId('chatcmpl-', 29),
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    content: toolCall ? null : content,
    toolCall,
    finishReason,
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: cachedTokens, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: markers.reasoning,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
  };
}

function completionBody(reply: Reply, withUsage = true) {
  const toolCalls = reply.toolCall
    ? {
        tool_calls: [
          {
            id: reply.toolCall.id,
            type: 'function',
            function: { name: reply.toolCall.name, arguments: reply.toolCall.arguments },
          },
        ],
      }
    : {};
  return {
    id: reply.id,
    object: 'chat.completion',
    created: reply.created,
    model: reply.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: reply.content,
          refusal: null,
          annotations: [],
          ...toolCalls,
        },
        logprobs: null,
        finish_reason: reply.finishReason,
      },
    ],
    ...(withUsage ? { usage: reply.usage } : {}),
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
}

function chunkEvent(
  reply: Reply,
  includeUsage: boolean,
  delta: Record<string, unknown>,
  finishReason: Reply['finishReason'] | null = null,
): string {
  const chunk = {
    id: reply.id,
    object: 'chat.completion.chunk',
    created: reply.created,
    model: reply.model,
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    // OpenAI adds `usage: null` to every chunk only when usage was requested.
    ...(includeUsage ? { usage: null } : {}),
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

function usageEvent(reply: Reply): string {
  const chunk = {
    id: reply.id,
    object: 'chat.completion.chunk',
    created: reply.created,
    model: reply.model,
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [],
    usage: reply.usage,
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

// ---------------------------------------------------------------------------------------------
// Server

/** Per-request state: its abort signal ends every timer and wait the handler has pending. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  signal: AbortSignal;
  /** Set before the mock deliberately kills a connection, so it is not counted as a client abort. */
  endedByServer: boolean;
}

class BodyTooLargeError extends Error {}

class MockOpenAIServer implements MockOpenAI {
  readonly requests: RecordedRequest[] = [];
  readonly reportedUsage: ReportedUsage[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly inFlight = new Set<AbortController>();
  private apiKey: string;
  private fault: FaultMode | null = null;
  private aborted = 0;
  private baseUrl = '';
  private closing: Promise<void> | undefined;
  private readonly latencyMs: number;
  private readonly streamChunkDelayMs: number;
  private readonly slowMs: number;
  private readonly rateLimitRetryAfter: number;
  /** Stored Responses API objects (per server, like OpenAI's per-organisation store). */
  private readonly responses = new MockResponses();

  constructor(options: MockOpenAIOptions) {
    this.apiKey = options.apiKey ?? DEFAULT_API_KEY;
    this.latencyMs = options.latencyMs ?? 0;
    this.streamChunkDelayMs = options.streamChunkDelayMs ?? 2;
    this.slowMs = options.slowMs ?? 5000;
    this.rateLimitRetryAfter = options.rateLimitRetryAfter ?? 1;
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      if (this.closing) {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return this.baseUrl;
  }

  get abortedRequests(): number {
    return this.aborted;
  }

  async listen(port: number, host: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.baseUrl = `http://${urlHost(address.address)}:${address.port}/v1`;
  }

  setFault(mode: FaultMode | null): void {
    // Callers may be plain JS; a typo should fail loudly rather than silently disable the fault.
    if (mode !== null && !isFaultMode(mode)) throw new Error(`Unknown fault mode: ${String(mode)}`);
    this.fault = mode;
  }

  setApiKey(key: string): void {
    this.apiKey = key;
  }

  reset(): void {
    this.requests.length = 0; // in place, so references held by tests stay live
    this.reportedUsage.length = 0;
    this.fault = null;
    this.aborted = 0;
  }

  openConnections(): number {
    return this.sockets.size;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Aborting every exchange cancels its pending sleeps and drain waits, so no timer survives.
    for (const controller of this.inFlight) controller.abort(new Error('mock server closing'));
    const stopped = new Promise<void>((resolve, reject) => {
      this.server.close((error) => (error ? reject(error) : resolve()));
    });
    const gone = [...this.sockets].map((socket) => once(socket, 'close'));
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([stopped, ...gone]);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const controller = new AbortController();
    const exchange: Exchange = { req, res, signal: controller.signal, endedByServer: false };
    this.inFlight.add(controller);
    // The socket may already be gone; failures surface through 'close', which is handled below.
    res.on('error', () => undefined);
    res.once('close', () => {
      this.inFlight.delete(controller);
      if (!res.writableFinished && !exchange.endedByServer && !this.closing) this.aborted += 1;
      controller.abort(new Error('client disconnected'));
    });
    res.setHeader('x-request-id', randomId('req_', 32));
    res.setHeader('openai-version', '2020-10-01');

    try {
      await this.route(exchange);
    } catch (error: unknown) {
      if (exchange.signal.aborted) return; // client gone or server closing: nothing to answer
      if (error instanceof BodyTooLargeError) {
        // The rest of the body is still in flight, so the connection cannot be reused.
        res.setHeader('connection', 'close');
        this.sendJson(exchange, 413, invalidRequest('Request body too large.'));
        return;
      }
      // A bug in the mock: make it visible instead of leaving the client hanging.
      console.error('mock-openai: unexpected error', error);
      if (res.headersSent) {
        exchange.endedByServer = true;
        res.destroy();
      } else this.sendJson(exchange, 500, openAIError('Mock server error.', 'server_error'));
    }
  }

  private async route(exchange: Exchange): Promise<void> {
    const { req } = exchange;
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0] ?? url;
    let body: unknown;
    try {
      body = parseBody(await readBody(req, exchange.signal));
    } finally {
      // Recorded even when the body never fully arrived, so tests can see the attempt.
      this.requests.push({ method, path, url, headers: flattenHeaders(req), body });
    }

    const faultHeader = headerValue(req, 'x-mock-fault');
    if (faultHeader !== undefined && !isFaultMode(faultHeader)) {
      this.sendJson(
        exchange,
        400,
        invalidRequest(
          `Unknown x-mock-fault '${faultHeader}'. Supported: ${FAULT_MODES.join(', ')}.`,
          'x-mock-fault',
          'unknown_mock_fault',
        ),
      );
      return;
    }
    const fault = faultHeader ?? this.fault;

    const delayHeader = headerValue(req, 'x-mock-delay-ms');
    const extraDelay = delayHeader === undefined ? undefined : Number(delayHeader);
    if (
      extraDelay !== undefined &&
      (!Number.isInteger(extraDelay) || extraDelay < 0 || extraDelay > MAX_DELAY_MS)
    ) {
      this.sendJson(
        exchange,
        400,
        invalidRequest(
          `Invalid x-mock-delay-ms '${delayHeader}': expected an integer from 0 to ${MAX_DELAY_MS}.`,
          'x-mock-delay-ms',
          'invalid_mock_delay',
        ),
      );
      return;
    }
    const delay = this.latencyMs + (extraDelay ?? (fault === 'slow_headers' ? this.slowMs : 0));
    if (delay > 0) await sleep(delay, undefined, { signal: exchange.signal });

    if (fault === 'unauthorized' || req.headers.authorization !== `Bearer ${this.apiKey}`) {
      // Like OpenAI, the message quotes the key that was sent: a gateway must not relay it.
      const message = invalidKeyMessage(req.headers.authorization);
      this.sendJson(exchange, 401, {
        error: { ...INVALID_API_KEY.error, message },
      } satisfies OpenAIErrorBody);
      return;
    }

    // Faults that break the exchange the same way whatever the endpoint.
    switch (fault) {
      case 'rate_limit':
        this.sendJson(
          exchange,
          429,
          openAIError(
            'Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. ' +
              `Please try again in ${this.rateLimitRetryAfter}s.`,
            'requests',
            null,
            'rate_limit_exceeded',
          ),
          {
            'retry-after': String(this.rateLimitRetryAfter),
            'x-ratelimit-limit-requests': '3',
            'x-ratelimit-remaining-requests': '0',
            'x-ratelimit-reset-requests': '1s',
          },
        );
        return;
      case 'server_error':
        this.sendJson(
          exchange,
          500,
          openAIError(
            'The server had an error while processing your request. Sorry about that!',
            'server_error',
          ),
        );
        return;
      case 'bad_gateway':
        exchange.res.writeHead(502, {
          'content-type': 'text/html',
          'content-length': Buffer.byteLength(BAD_GATEWAY_HTML),
        });
        exchange.res.end(BAD_GATEWAY_HTML);
        return;
      case 'reset_before_headers':
        this.destroyConnection(exchange);
        return;
      case 'invalid_json': {
        const truncated = '{"id": "chatcmpl-x", "choices": [';
        exchange.res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(truncated),
        });
        exchange.res.end(truncated);
        return;
      }
      case 'context_length_exceeded':
        this.sendJson(
          exchange,
          400,
          invalidRequest(
            "This model's maximum context length is 128000 tokens. However, your messages " +
              'resulted in 130000 tokens. Please reduce the length of the messages.',
            'messages',
            'context_length_exceeded',
          ),
        );
        return;
      case 'invalid_tool_schema':
        this.sendJson(
          exchange,
          400,
          invalidRequest(
            "Invalid schema for function 'lookup': In context=(), 'additionalProperties' is " +
              'required to be supplied and to be false.',
            'tools[0].function.parameters',
            'invalid_function_parameters',
          ),
        );
        return;
      case 'insufficient_quota':
        // OpenAI sends no retry-after here: waiting does not help.
        this.sendJson(
          exchange,
          429,
          openAIError(
            'You exceeded your current quota, please check your plan and billing details.',
            'insufficient_quota',
            null,
            'insufficient_quota',
          ),
        );
        return;
      case 'rate_limit_reset_only':
        this.sendJson(
          exchange,
          429,
          openAIError(
            'Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 200000, ' +
              'Used 199000, Requested 3000.',
            'tokens',
            null,
            'rate_limit_exceeded',
          ),
          {
            'x-ratelimit-limit-tokens': '200000',
            'x-ratelimit-remaining-tokens': '0',
            'x-ratelimit-reset-tokens': '1m30s',
            'x-ratelimit-reset-requests': '20ms',
          },
        );
        return;
      case 'no_usage':
      case 'crlf_framing':
      case 'cut_body':
      case 'oversize_body':
      case 'long_stream':
      case 'reset_mid_stream':
      case 'malformed_sse':
      case 'never_ending_stream':
      case 'slow_headers':
      case 'slow_loris':
      case null:
        break;
    }

    if (method === 'GET' && path === '/v1/models') {
      this.sendOrTrickle(exchange, fault, { object: 'list', data: MODELS });
    } else if (method === 'GET' && path.startsWith('/v1/models/')) {
      const id = safeDecode(path.slice('/v1/models/'.length));
      const model = MODELS.find((candidate) => candidate.id === id);
      if (model) this.sendOrTrickle(exchange, fault, model);
      else this.sendJson(exchange, 404, modelNotFound(id));
    } else if (method === 'POST' && path === '/v1/chat/completions') {
      await this.chatCompletions(exchange, fault, body);
    } else if (method === 'POST' && path === '/v1/embeddings') {
      embeddings(this.endpointExchange(exchange, fault), body);
    } else if (
      !(await this.responses.handle(this.endpointExchange(exchange, fault), method, path, body))
    ) {
      this.sendJson(exchange, 404, invalidRequest(`Invalid URL (${method} ${path})`));
    }
  }

  /** The view of one exchange that the endpoint modules (`responses.ts`, `embeddings.ts`) use. */
  private endpointExchange(exchange: Exchange, fault: FaultMode | null): MockExchange {
    return {
      res: exchange.res,
      signal: exchange.signal,
      fault,
      streamChunkDelayMs: this.streamChunkDelayMs,
      sendJson: (status, body, headers) => this.sendJson(exchange, status, body, headers),
      sendOrTrickle: (body) => this.sendOrTrickle(exchange, fault, body),
      destroyConnection: () => this.destroyConnection(exchange),
      reportUsage: (usage) => this.reportUsage(exchange, usage),
    };
  }

  private async chatCompletions(exchange: Exchange, fault: FaultMode | null, body: unknown) {
    const request = parseChatRequest(body);
    if ('error' in request) {
      this.sendJson(exchange, 400, request);
      return;
    }
    const reply = buildReply(request);
    const withUsage = fault !== 'no_usage';
    if (!request.stream) {
      if (fault === 'reset_mid_stream') this.destroyConnection(exchange);
      else if (fault === 'cut_body') this.cutBody(exchange, completionBody(reply, withUsage));
      else if (fault === 'oversize_body') {
        await this.oversizeBody(exchange, completionBody(reply, withUsage));
      } else {
        if (withUsage && fault !== 'slow_loris') this.reportUsage(exchange, reply.usage);
        this.sendOrTrickle(exchange, fault, completionBody(reply, withUsage));
      }
      return;
    }
    if (fault === 'slow_loris') {
      this.sendOrTrickle(exchange, fault, completionBody(reply));
      return;
    }
    await this.stream(exchange, fault, reply, request.includeUsage && withUsage);
  }

  private async stream(
    exchange: Exchange,
    fault: FaultMode | null,
    reply: Reply,
    includeUsage: boolean,
  ): Promise<void> {
    const { res } = exchange;
    const signal = exchange.signal;
    res.writeHead(200, {
      ...successHeaders(),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    const emit = async (event: string) => {
      if (fault !== 'crlf_framing') return write(res, event, signal);
      for (const piece of crlfSplitWrites(event)) {
        await write(res, piece, signal);
        // A pause, so each piece leaves in its own TCP segment.
        await sleep(1, undefined, { signal });
      }
    };
    let pieces = reply.content === null ? [] : splitIntoPieces(reply.content);
    if (fault === 'long_stream' && pieces.length > 0) {
      const once = pieces;
      pieces = Array.from({ length: LONG_STREAM_CHUNKS }, (_, i) => once[i % once.length]);
    }
    await emit(
      chunkEvent(reply, includeUsage, {
        role: 'assistant',
        content: reply.toolCall ? null : '',
        refusal: null,
      }),
    );
    if (reply.toolCall) {
      for (const delta of toolCallDeltas(reply.toolCall)) {
        await emit(chunkEvent(reply, includeUsage, delta));
      }
    }

    if (fault === 'never_ending_stream') {
      // Cycles through the reply forever; only a client disconnect (or close()) stops it.
      const words = pieces.length > 0 ? pieces : ['…'];
      for (let i = 0; ; i = (i + 1) % words.length) {
        await sleep(NEVER_ENDING_CHUNK_MS, undefined, { signal });
        await emit(chunkEvent(reply, includeUsage, { content: words[i] }));
      }
    }
    if (fault === 'malformed_sse') await write(res, 'data: {not json\n\n', signal);

    for (const [index, piece] of pieces.entries()) {
      if (fault === 'reset_mid_stream' && index === CHUNKS_BEFORE_RESET) {
        this.destroyConnection(exchange);
        return;
      }
      if (this.streamChunkDelayMs > 0) {
        await sleep(this.streamChunkDelayMs, undefined, { signal });
      }
      await emit(chunkEvent(reply, includeUsage, { content: piece }));
    }
    if (fault === 'reset_mid_stream') {
      // Reply too short to reach the reset point: still cut before the end of the stream.
      this.destroyConnection(exchange);
      return;
    }
    await emit(chunkEvent(reply, includeUsage, {}, reply.finishReason));
    if (includeUsage) {
      this.reportUsage(exchange, reply.usage);
      await emit(usageEvent(reply));
    }
    await emit('data: [DONE]\n\n');
    res.end();
  }

  /** `cut_body`: a 200 whose JSON stops halfway, the connection closed (content-length unmet). */
  private cutBody(exchange: Exchange, body: unknown): void {
    const bytes = Buffer.from(JSON.stringify(body));
    exchange.res.writeHead(200, {
      ...successHeaders(),
      'content-type': 'application/json',
      'content-length': bytes.length,
    });
    exchange.res.write(bytes.subarray(0, bytes.length >> 1));
    this.destroyConnection(exchange);
  }

  /**
   * `oversize_body`: valid JSON followed by OVERSIZE_BODY_BYTES of spaces (chunked, written
   * as fast as the client reads): more than any whole answer a gateway should hold.
   */
  private async oversizeBody(exchange: Exchange, body: unknown): Promise<void> {
    const { res, signal } = exchange;
    res.writeHead(200, { ...successHeaders(), 'content-type': 'application/json' });
    await write(res, JSON.stringify(body), signal);
    const padding = Buffer.alloc(1024 * 1024, 0x20);
    for (let sent = 0; sent < OVERSIZE_BODY_BYTES; sent += padding.length) {
      await write(res, padding, signal);
    }
    res.end();
  }

  /** Sends `body` as JSON, or for `slow_loris` dribbles it out a byte a second, never finishing. */
  private sendOrTrickle(exchange: Exchange, fault: FaultMode | null, body: unknown): void {
    if (fault !== 'slow_loris') {
      this.sendJson(exchange, 200, body);
      return;
    }
    const { res, signal } = exchange;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    // The last byte (the closing brace) is withheld; spaces after it keep the JSON incomplete.
    const bytes = Buffer.from(JSON.stringify(body));
    const trickle = async () => {
      for (let i = 0; ; i += 1) {
        await sleep(SLOW_LORIS_BYTE_MS, undefined, { signal });
        const byte = i < bytes.length - 1 ? bytes.subarray(i, i + 1) : Buffer.from(' ');
        await write(res, byte, signal);
      }
    };
    trickle().catch((error: unknown) => {
      if (!signal.aborted) res.destroy(error instanceof Error ? error : undefined);
    });
  }

  private sendJson(
    exchange: Exchange,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const payload = JSON.stringify(body);
    exchange.res.writeHead(status, {
      ...(status < 300 ? successHeaders() : {}),
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
    });
    exchange.res.end(payload);
  }

  private reportUsage(exchange: Exchange, usage: unknown): void {
    const path = (exchange.req.url ?? '/').split('?', 1)[0] ?? '/';
    this.reportedUsage.push({ path, usage: structuredClone(usage) as Record<string, unknown> });
  }

  private destroyConnection(exchange: Exchange): void {
    exchange.endedByServer = true;
    const socket = exchange.req.socket;
    // Before headers a TCP reset is the most abrupt failure. Mid-stream, the bytes already written
    // must reach the client first (a reset could discard them), so flush, then close without the
    // chunked terminator: the client sees a body cut short.
    if (exchange.res.headersSent) socket.destroySoon();
    else socket.resetAndDestroy();
  }
}

function modelNotFound(id: string): OpenAIErrorBody {
  return invalidRequest(
    `The model '${id}' does not exist or you do not have access to it.`,
    null,
    'model_not_found',
  );
}

function urlHost(address: string): string {
  // A wildcard bind is reachable on loopback; print that so the URL can be used as-is.
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return address.includes(':') ? `[${address}]` : address;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // malformed escapes: look the raw text up, which simply finds no model
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage, signal: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    signal.throwIfAborted();
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes and, when the socket buffer is full, waits for 'drain' (or the client leaving). */
async function write(res: ServerResponse, data: string | Buffer, signal: AbortSignal) {
  signal.throwIfAborted();
  if (!res.write(data)) await once(res, 'drain', { signal });
}
