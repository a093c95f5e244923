/**
 * The Responses API of the mock (`POST /v1/responses`, `GET/DELETE /v1/responses/{id}`),
 * close enough on the wire for the `openai` SDK, the Vercel AI SDK and the Agents SDK.
 *
 * Deterministic like the chat mock: the answer is "Mock reply to: <last user text>", or,
 * when function tools are offered and the input does not end with a tool's output, a call
 * of the first function tool with arguments filled from its JSON schema. After a
 * `function_call_output` the answer is "Mock reply to tool output: <output>". Usage follows
 * ceil(chars / 4); a follow-up (`previous_response_id`) is billed its context again, as
 * OpenAI does. Stored responses live in memory, per mock server.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  countTokens,
  invalidRequest,
  isRecord,
  type MockExchange,
  usageMarkers,
} from './mock-exchange';

/** OpenAI refuses smaller caps: "Expected a value >= 16". */
const MIN_OUTPUT_TOKENS = 16;
const NEVER_ENDING_EVENT_MS = 200;
const EVENTS_BEFORE_RESET = 2;
const WORDS_PER_DELTA = 3;

interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

type OutputItem =
  | {
      type: 'message';
      id: string;
      status: 'completed' | 'incomplete';
      role: 'assistant';
      content: Array<{ type: 'output_text'; text: string; annotations: []; logprobs: [] }>;
    }
  | {
      type: 'function_call';
      id: string;
      call_id: string;
      name: string;
      arguments: string;
      status: 'completed';
    };

interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: 'completed' | 'incomplete' | 'in_progress';
  background: boolean;
  error: null;
  incomplete_details: { reason: 'max_output_tokens' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: null; summary: null };
  safety_identifier: string | null;
  service_tier: string;
  store: boolean;
  temperature: number;
  text: { format: { type: 'text' } };
  tool_choice: unknown;
  tools: unknown[];
  top_p: number;
  truncation: string;
  usage: ResponseUsage | null;
  user: null;
  metadata: Record<string, string>;
}

interface ParsedRequest {
  model: string;
  stream: boolean;
  store: boolean;
  instructions: string | null;
  maxOutputTokens: number | null;
  previous?: ResponseObject;
  texts: string[];
  lastUserText: string;
  /** The output of the tool call the input ends with, if it ends with one. */
  toolOutput?: string;
  functionTools: Array<{ name: string; parameters: unknown }>;
  toolChoice: unknown;
  body: Record<string, unknown>;
}

function randomId(prefix: string): string {
  return prefix + randomBytes(24).toString('hex');
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

/** A value matching a (simple) JSON schema: what a model would fill a tool's arguments with. */
function sampleFor(schema: unknown, text: string): unknown {
  if (!isRecord(schema)) return text;
  const type: unknown = Array.isArray(schema.type) ? (schema.type as unknown[])[0] : schema.type;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const properties = isRecord(schema.properties) ? schema.properties : {};
      for (const [name, property] of Object.entries(properties)) {
        out[name] = sampleFor(property, text);
      }
      return out;
    }
    case 'array':
      return [sampleFor(schema.items, text)];
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return text;
  }
}

export class MockResponses {
  private readonly stored = new Map<string, ResponseObject>();

  /** True when the route is one of this module's; the answer is then sent. */
  async handle(
    exchange: MockExchange,
    method: string,
    path: string,
    body: unknown,
  ): Promise<boolean> {
    if (path === '/v1/responses' && method === 'POST') {
      await this.create(exchange, body);
      return true;
    }
    const match = /^\/v1\/responses\/([^/]+)$/.exec(path);
    if (!match || (method !== 'GET' && method !== 'DELETE')) return false;
    const id = decodeURIComponent(match[1]);
    const response = this.stored.get(id);
    if (!response) {
      exchange.sendJson(404, notFound(id, null));
      return true;
    }
    if (method === 'DELETE') {
      this.stored.delete(id);
      exchange.sendJson(200, { id, object: 'response', deleted: true });
    } else exchange.sendOrTrickle(response);
    return true;
  }

  private async create(exchange: MockExchange, body: unknown): Promise<void> {
    const parsed = this.parse(body);
    if ('error' in parsed) {
      exchange.sendJson(parsed.error.code === 'previous_response_not_found' ? 404 : 400, parsed);
      return;
    }
    const response = buildResponse(parsed);
    if (parsed.store) this.stored.set(response.id, response);
    if (!parsed.stream || exchange.fault === 'slow_loris') {
      if (exchange.fault === 'reset_mid_stream') exchange.destroyConnection();
      else {
        if (exchange.fault !== 'slow_loris') exchange.reportUsage(response.usage);
        exchange.sendOrTrickle(response);
      }
      return;
    }
    await streamResponse(exchange, response);
  }

  private parse(body: unknown): ParsedRequest | ReturnType<typeof invalidRequest> {
    if (!isRecord(body)) return invalidRequest('We could not parse the JSON body of your request.');
    const { model, input, instructions, stream, store, previous_response_id: previousId } = body;
    if (typeof model !== 'string') {
      return invalidRequest(
        "Missing required parameter: 'model'.",
        'model',
        'missing_required_parameter',
      );
    }
    let maxOutputTokens: number | null = null;
    if (body.max_output_tokens !== undefined && body.max_output_tokens !== null) {
      const value = body.max_output_tokens;
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        return invalidRequest(
          "Invalid type for 'max_output_tokens'.",
          'max_output_tokens',
          'invalid_type',
        );
      }
      if (value < MIN_OUTPUT_TOKENS) {
        return invalidRequest(
          `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= ${MIN_OUTPUT_TOKENS}, but got ${value} instead.`,
          'max_output_tokens',
          'integer_below_min_value',
        );
      }
      maxOutputTokens = value;
    }
    let previous: ResponseObject | undefined;
    if (previousId !== undefined && previousId !== null) {
      previous = typeof previousId === 'string' ? this.stored.get(previousId) : undefined;
      if (!previous) return notFound(JSON.stringify(previousId), 'previous_response_id');
    }
    const texts: string[] = [];
    let lastUserText = '';
    let toolOutput: string | undefined;
    if (typeof input === 'string') {
      texts.push(input);
      lastUserText = input;
    } else if (Array.isArray(input)) {
      for (const [index, item] of (input as unknown[]).entries()) {
        if (!isRecord(item)) {
          return invalidRequest(
            `Invalid type for 'input[${index}]'.`,
            `input[${index}]`,
            'invalid_type',
          );
        }
        toolOutput = undefined;
        if (item.type === 'function_call_output') {
          toolOutput = typeof item.output === 'string' ? item.output : textOf(item.output);
          texts.push(toolOutput);
        } else if (item.type === 'function_call') {
          texts.push(typeof item.arguments === 'string' ? item.arguments : '');
        } else if (item.type === undefined || item.type === 'message') {
          const text = textOf(item.content);
          texts.push(text);
          if (item.role === 'user') lastUserText = text;
        }
      }
    } else if (input !== undefined) {
      return invalidRequest("Invalid type for 'input'.", 'input', 'invalid_type');
    }
    const tools = Array.isArray(body.tools) ? (body.tools as unknown[]) : [];
    const functionTools = tools
      .filter((tool): tool is Record<string, unknown> => isRecord(tool) && tool.type === 'function')
      .map((tool) => ({ name: String(tool.name), parameters: tool.parameters }));
    return {
      model,
      stream: stream === true,
      store: store !== false,
      instructions: typeof instructions === 'string' ? instructions : null,
      maxOutputTokens,
      previous,
      texts,
      lastUserText,
      toolOutput,
      functionTools,
      toolChoice: body.tool_choice ?? 'auto',
      body,
    };
  }
}

function notFound(id: string, param: string | null) {
  const error = invalidRequest(
    param ? `Previous response with id '${id}' not found.` : `Response with id '${id}' not found.`,
    param,
    param ? 'previous_response_not_found' : null,
  );
  return error;
}

function buildResponse(request: ParsedRequest): ResponseObject {
  const previousContext = request.previous?.usage ? request.previous.usage.total_tokens : 0;
  const inputTokens =
    request.texts.reduce((sum, text) => sum + countTokens(text) + 4, 0) +
    countTokens(request.instructions ?? '') +
    previousContext;
  const markers = usageMarkers(request.texts.join('\n'));
  let output: OutputItem;
  let status: ResponseObject['status'] = 'completed';
  let outputTokens: number;
  const tool = request.functionTools[0];
  if (tool && request.toolOutput === undefined && request.toolChoice !== 'none') {
    const args = JSON.stringify(sampleFor(tool.parameters, request.lastUserText));
    output = {
      type: 'function_call',
      id: randomId('fc_'),
      call_id: randomId('call_'),
      name: tool.name,
      arguments: args,
      status: 'completed',
    };
    outputTokens = countTokens(args);
  } else {
    let text =
      request.toolOutput !== undefined
        ? `Mock reply to tool output: ${request.toolOutput.slice(0, 200)}`
        : `Mock reply to: ${request.lastUserText.slice(0, 200)}`;
    if (request.maxOutputTokens !== null && countTokens(text) > request.maxOutputTokens) {
      text = text.slice(0, request.maxOutputTokens * 4);
      status = 'incomplete';
    }
    output = {
      type: 'message',
      id: randomId('msg_'),
      status: status === 'completed' ? 'completed' : 'incomplete',
      role: 'assistant',
      content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
    };
    outputTokens = countTokens(text);
  }
  outputTokens += markers.reasoning;
  const body = request.body;
  return {
    id: randomId('resp_'),
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: request.instructions,
    max_output_tokens: request.maxOutputTokens,
    model: request.model,
    output: [output],
    parallel_tool_calls: body.parallel_tool_calls !== false,
    previous_response_id: request.previous?.id ?? null,
    reasoning: { effort: null, summary: null },
    safety_identifier: typeof body.safety_identifier === 'string' ? body.safety_identifier : null,
    service_tier: 'default',
    store: request.store,
    temperature: typeof body.temperature === 'number' ? body.temperature : 1,
    text: { format: { type: 'text' } },
    tool_choice: request.toolChoice,
    tools: Array.isArray(body.tools) ? body.tools : [],
    top_p: typeof body.top_p === 'number' ? body.top_p : 1,
    truncation: 'disabled',
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: Math.min(markers.cached, inputTokens) },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: markers.reasoning },
      total_tokens: inputTokens + outputTokens,
    },
    user: null,
    metadata: isRecord(body.metadata) ? (body.metadata as Record<string, string>) : {},
  };
}

function pieces(text: string): string[] {
  const words = text.match(/\s*\S+\s*/g);
  if (!words) return text === '' ? [] : [text];
  const out: string[] = [];
  for (let i = 0; i < words.length; i += WORDS_PER_DELTA) {
    out.push(words.slice(i, i + WORDS_PER_DELTA).join(''));
  }
  return out;
}

/** OpenAI's event sequence for one output item, text or function call. */
function streamEvents(response: ResponseObject): Array<Record<string, unknown>> {
  const item = response.output[0];
  const pending = { ...response, status: 'in_progress', output: [], usage: null };
  const events: Array<Record<string, unknown>> = [
    { type: 'response.created', response: pending },
    { type: 'response.in_progress', response: pending },
  ];
  if (item.type === 'message') {
    const text = item.content[0].text;
    const empty = { ...item, status: 'in_progress', content: [] };
    const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
    events.push({ type: 'response.output_item.added', output_index: 0, item: empty });
    events.push({
      type: 'response.content_part.added',
      item_id: item.id,
      output_index: 0,
      content_index: 0,
      part,
    });
    for (const delta of pieces(text)) {
      events.push({
        type: 'response.output_text.delta',
        item_id: item.id,
        output_index: 0,
        content_index: 0,
        delta,
        logprobs: [],
      });
    }
    events.push({
      type: 'response.output_text.done',
      item_id: item.id,
      output_index: 0,
      content_index: 0,
      text,
      logprobs: [],
    });
    events.push({
      type: 'response.content_part.done',
      item_id: item.id,
      output_index: 0,
      content_index: 0,
      part: { ...part, text },
    });
  } else {
    events.push({
      type: 'response.output_item.added',
      output_index: 0,
      item: { ...item, arguments: '', status: 'in_progress' },
    });
    events.push({
      type: 'response.function_call_arguments.delta',
      item_id: item.id,
      output_index: 0,
      delta: item.arguments,
    });
    events.push({
      type: 'response.function_call_arguments.done',
      item_id: item.id,
      output_index: 0,
      name: item.name,
      arguments: item.arguments,
    });
  }
  events.push({ type: 'response.output_item.done', output_index: 0, item });
  events.push({
    type: response.status === 'incomplete' ? 'response.incomplete' : 'response.completed',
    response,
  });
  return events.map((event, sequence) => ({ ...event, sequence_number: sequence }));
}

function frame(event: Record<string, unknown>): string {
  return `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`;
}

async function write(exchange: MockExchange, data: string): Promise<void> {
  exchange.signal.throwIfAborted();
  if (!exchange.res.write(data)) await once(exchange.res, 'drain', { signal: exchange.signal });
}

async function streamResponse(exchange: MockExchange, response: ResponseObject): Promise<void> {
  const { res, signal, fault } = exchange;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
  });
  const events = streamEvents(response);
  if (fault === 'never_ending_stream') {
    await write(exchange, frame(events[0]));
    for (let n = 1; ; n += 1) {
      await sleep(NEVER_ENDING_EVENT_MS, undefined, { signal });
      await write(
        exchange,
        frame({ type: 'response.in_progress', response: events[0].response, sequence_number: n }),
      );
    }
  }
  for (const [index, event] of events.entries()) {
    if (fault === 'reset_mid_stream' && index === EVENTS_BEFORE_RESET) {
      exchange.destroyConnection();
      return;
    }
    if (fault === 'malformed_sse' && index === EVENTS_BEFORE_RESET) {
      await write(exchange, 'event: response.output_text.delta\ndata: {not json\n\n');
    }
    if (exchange.streamChunkDelayMs > 0 && index > 0) {
      await sleep(exchange.streamChunkDelayMs, undefined, { signal });
    }
    if (event.type === 'response.completed' || event.type === 'response.incomplete') {
      exchange.reportUsage(response.usage);
    }
    await write(exchange, frame(event));
  }
  res.end();
}
