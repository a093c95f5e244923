/**
 * The mock's chat answers beyond plain text: tool calls (`content: null`, then streamed
 * `tool_calls` deltas), `response_format: json_schema` answers, and what OpenAI really adds
 * to a success (organisation, project, rate-limit headers and Cloudflare cookies) or to a 401
 * (the key's last characters), so that Keyward's tests cannot pass by the mock being kind.
 * Everything stays deterministic: values derive from the request.
 */
import { randomBytes } from 'node:crypto';

export interface ToolCallReply {
  id: string;
  name: string;
  arguments: string;
}

/** What of the request decides a structured answer. */
export interface StructuredRequest {
  /** Function tool names and their parameter schemas, in request order. */
  tools: { name: string; parameters: unknown }[];
  /** `none`, `required`, `auto` or the name of a forced function. */
  toolChoice: string;
  /** The role of the last message: a tool loop answers a `tool` message with text. */
  lastRole: string;
  /** `response_format.json_schema.schema`, when asked for. */
  jsonSchema?: unknown;
  /** The text a tool's results gave, for the answer after a tool call. */
  toolResult?: string;
  /** Image parts in the last user message. */
  images: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the structured parts of a chat request; loose, the mock is not a validator. */
export function structuredRequest(body: Record<string, unknown>): StructuredRequest {
  const tools = Array.isArray(body.tools)
    ? body.tools.flatMap((tool: unknown) =>
        isRecord(tool) && tool.type === 'function' && isRecord(tool.function)
          ? [{ name: String(tool.function.name), parameters: tool.function.parameters }]
          : [],
      )
    : [];
  const choice = body.tool_choice;
  const toolChoice =
    typeof choice === 'string'
      ? choice
      : isRecord(choice) && isRecord(choice.function)
        ? String(choice.function.name)
        : 'auto';
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  const last = messages[messages.length - 1];
  const lastRole = isRecord(last) && typeof last.role === 'string' ? last.role : 'user';
  const format = body.response_format;
  const jsonSchema =
    isRecord(format) && format.type === 'json_schema' && isRecord(format.json_schema)
      ? (format.json_schema.schema ?? {})
      : undefined;
  const toolResult =
    lastRole === 'tool' && isRecord(last)
      ? typeof last.content === 'string'
        ? last.content
        : JSON.stringify(last.content)
      : undefined;
  const lastUser = [...messages].reverse().find((m) => isRecord(m) && m.role === 'user');
  const images =
    isRecord(lastUser) && Array.isArray(lastUser.content)
      ? lastUser.content.filter((part: unknown) => isRecord(part) && part.type === 'image_url')
          .length
      : 0;
  return { tools, toolChoice, lastRole, jsonSchema, toolResult, images };
}

/** A value for a JSON Schema: strings say `text`, numbers 42, booleans true. */
export function valueFor(schema: unknown, text: string): unknown {
  if (!isRecord(schema)) return text;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0] as unknown;
  switch (schema.type) {
    case 'object': {
      const properties = isRecord(schema.properties) ? schema.properties : {};
      return Object.fromEntries(
        Object.entries(properties).map(([key, value]) => [key, valueFor(value, text)]),
      );
    }
    case 'array':
      return [valueFor(schema.items, text)];
    case 'number':
    case 'integer':
      return 42;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return text;
  }
}

/** The tool call to make, if the request offers tools and the turn is the user's. */
export function toolCallFor(request: StructuredRequest, text: string): ToolCallReply | undefined {
  if (request.tools.length === 0 || request.toolChoice === 'none') return undefined;
  if (request.lastRole === 'tool') return undefined; // results are in: answer in text
  const tool =
    request.tools.find((candidate) => candidate.name === request.toolChoice) ?? request.tools[0];
  return {
    id: `call_${randomBytes(12).toString('hex')}`,
    name: tool.name,
    arguments: JSON.stringify(valueFor(tool.parameters ?? { type: 'object' }, text)),
  };
}

/** The text answer, shaped by a json_schema or a tool's results when there are any. */
export function structuredContent(request: StructuredRequest, echo: string): string {
  const text =
    request.toolResult !== undefined ? `Mock reply to tool result: ${request.toolResult}` : echo;
  const withImages =
    request.images > 0 ? `${text} [${request.images} image${request.images > 1 ? 's' : ''}]` : text;
  if (request.jsonSchema !== undefined)
    return JSON.stringify(valueFor(request.jsonSchema, withImages));
  return withImages;
}

/** Streamed as OpenAI does: id, type and name first, then the arguments in pieces. */
export function toolCallDeltas(call: ToolCallReply): Record<string, unknown>[] {
  const pieces = call.arguments.match(/.{1,8}/gs) ?? [''];
  return [
    {
      tool_calls: [
        { index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: '' } },
      ],
    },
    ...pieces.map((piece) => ({ tool_calls: [{ index: 0, function: { arguments: piece } }] })),
  ];
}

/**
 * Headers OpenAI puts on every success: who the key belongs to, its limits, and Cloudflare's
 * cookies. A gateway must never relay them to its own clients.
 */
export function successHeaders(): Record<string, string | string[]> {
  return {
    'openai-organization': 'org-mock-keyward-upstream',
    'openai-project': 'proj_mockKeywardUpstream',
    'openai-processing-ms': '7',
    'x-ratelimit-limit-requests': '10000',
    'x-ratelimit-remaining-requests': '9999',
    'x-ratelimit-reset-requests': '6ms',
    'x-ratelimit-limit-tokens': '30000000',
    'x-ratelimit-remaining-tokens': '29999000',
    'x-ratelimit-reset-tokens': '2ms',
    'set-cookie': [
      '__cf_bm=mockUpstreamCookie; path=/; expires=Mon, 30-Nov-2026 12:30:00 GMT; domain=.api.openai.com; HttpOnly; Secure; SameSite=None',
      '_cfuvid=mockUpstreamVisitor; path=/; domain=.api.openai.com; HttpOnly; Secure; SameSite=None',
    ],
  };
}

/** OpenAI's 401 text quotes the sent key's first and last characters. */
export function invalidKeyMessage(authorization: string | undefined): string {
  const key = authorization?.replace(/^Bearer\s+/i, '') ?? '';
  const shown = key.length > 8 ? `${key.slice(0, 3)}${'*'.repeat(12)}${key.slice(-4)}` : '';
  return (
    `Incorrect API key provided: ${shown}. You can find your API key at ` +
    'https://platform.openai.com/account/api-keys.'
  );
}

/**
 * An SSE event in CRLF framing, cut into three writes: inside the data line, between the
 * CR and LF of the first line end, and before the blank line. What a proxy or a chunked
 * encoder may do to OpenAI's stream; a client that assumes one event per read breaks.
 */
export function crlfSplitWrites(event: string): string[] {
  const crlf = event.replace(/\n/g, '\r\n');
  const firstEnd = crlf.indexOf('\r\n');
  const middle = Math.max(1, Math.floor(firstEnd / 2));
  return [crlf.slice(0, middle), crlf.slice(middle, firstEnd + 1), crlf.slice(firstEnd + 1)];
}
