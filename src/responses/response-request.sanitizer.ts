import type {
  ResponseCreateParamsNonStreaming,
  ResponseCreateParamsStreaming,
} from 'openai/resources/responses/responses';
import { chatModel } from '../chat/chat-request.sanitizer';
import { LARGEST_IMAGE_TOKENS } from '../chat/image-policy';
import { invalidParam } from '../common/zod-body.pipe';
import type { ChatConfig } from '../config/chat.config';
import {
  MESSAGE_OVERHEAD_TOKENS,
  REPLY_PRIMING_TOKENS,
  TOOL_OVERHEAD_TOKENS,
} from '../chat/token-estimate';
import type { ResponseCreateRequest } from './dto/response-create.schema';

/** OpenAI refuses a smaller `max_output_tokens`; a budget with less left cannot answer. */
export const MIN_OUTPUT_TOKENS = 16;

type UpstreamBase = Omit<
  ResponseCreateParamsNonStreaming,
  'stream' | 'max_output_tokens' | 'safety_identifier' | 'store' | 'user'
>;

export interface SanitizedResponseRequest {
  readonly model: string;
  readonly stream: boolean;
  readonly previousResponseId?: string;
  readonly requestedMaxTokens?: number;
  /** Upper bound of the input tokens, without the previous response's context. */
  readonly promptCeiling: number;
  /** Realistic guess of the input tokens: billed when upstream never reports usage. */
  readonly promptEstimate: number;
  readonly base: UpstreamBase;
}

type Limits = Pick<ChatConfig, 'models' | 'defaultModel' | 'maxMessages' | 'maxInputChars'>;

/** Fields copied upstream as the client sent them (validated by the schema). */
const PASSED_THROUGH = [
  'context_management',
  'image',
  'include',
  'instructions',
  'max_tool_calls',
  'metadata',
  'moderation',
  'parallel_tool_calls',
  'prompt_cache_key',
  'prompt_cache_options',
  'prompt_cache_retention',
  'reasoning',
  'service_tier',
  'stream_options',
  'temperature',
  'text',
  'tool_choice',
  'tools',
  'top_logprobs',
  'top_p',
  'truncation',
] as const satisfies readonly (keyof UpstreamBase & keyof ResponseCreateRequest)[];

/** What the model reads, measured while walking the input. */
interface InputMeasure {
  chars: number;
  bytes: number;
  images: number;
}

/** Strings the model does not read as text: counted as images/files, not bytes. */
const BINARY_FIELDS = new Set(['image_url', 'file_data', 'file_url']);

/**
 * Walks the input items: refuses references to upstream objects (an `item_reference`, a
 * `file_id`): the upstream key is shared, so they could name another user's data; allows
 * only `data:` and `https:` image and file URLs; measures the text.
 */
function measureInput(value: unknown, path: string, measure: InputMeasure): void {
  if (typeof value === 'string') {
    measure.chars += value.length;
    measure.bytes += Buffer.byteLength(value, 'utf8');
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => measureInput(item, `${path}[${index}]`, measure));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const record = value as Record<string, unknown>;
  if (record.type === 'item_reference') {
    throw invalidParam(
      'Item references are not available through Keyward; send the items themselves.',
      `${path}.type`,
    );
  }
  if (record.type === 'input_image' || record.type === 'input_file') measure.images += 1;
  for (const [key, item] of Object.entries(record)) {
    const param = `${path}.${key}`;
    if (key === 'file_id' && item !== null && item !== undefined) {
      throw invalidParam(
        'Uploaded files are not available through Keyward; send file_data or a URL.',
        param,
      );
    }
    if (BINARY_FIELDS.has(key)) {
      if (typeof item === 'string' && !/^(data:|https:\/\/)/i.test(item)) {
        throw invalidParam('Only data: and https: URLs are allowed.', param);
      }
      if (key === 'file_data' && typeof item === 'string') measure.bytes += item.length;
      continue;
    }
    measureInput(item, param, measure);
  }
}

/**
 * `POST /v1/responses` hygiene, the same rules as chat: an allowlisted model, item count
 * and input size limited, an upper bound of the input tokens for the reservation, and the
 * upstream body rebuilt from allowlisted fields (the cap, `store`, the user's identifier
 * and the stream flag are Keyward's).
 */
export function sanitizeResponseRequest(
  dto: ResponseCreateRequest,
  limits: Limits,
): SanitizedResponseRequest {
  const model = chatModel(dto.model, limits);
  const stream = dto.stream === true;
  if (dto.stream_options && !stream) {
    throw invalidParam(
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      'stream_options',
    );
  }
  const items = typeof dto.input === 'string' || dto.input === undefined ? 1 : dto.input.length;
  if (items > limits.maxMessages) {
    throw invalidParam(`At most ${limits.maxMessages} input items are allowed.`, 'input');
  }
  const measure: InputMeasure = { chars: 0, bytes: 0, images: 0 };
  measureInput(dto.input, 'input', measure);
  measureInput(dto.instructions, 'instructions', measure);
  const toolsJson = dto.tools ? JSON.stringify(dto.tools) : '';
  const chars = measure.chars + toolsJson.length;
  if (chars > limits.maxInputChars) {
    throw invalidParam(
      `The input is ${chars} characters; at most ${limits.maxInputChars} are allowed.`,
      'input',
    );
  }
  const extrasJson = JSON.stringify([dto.tool_choice, dto.text, dto.reasoning]);
  const promptCeiling =
    REPLY_PRIMING_TOKENS +
    items * MESSAGE_OVERHEAD_TOKENS +
    measure.bytes +
    measure.images * LARGEST_IMAGE_TOKENS +
    Buffer.byteLength(toolsJson) +
    (dto.tools?.length ?? 0) * TOOL_OVERHEAD_TOKENS +
    Buffer.byteLength(extrasJson);
  // Shape checked by the schema; the SDK's types are unions the JSON cannot name.
  const base: Record<string, unknown> = { model };
  if (dto.input !== undefined) base.input = dto.input;
  for (const key of PASSED_THROUGH) {
    const value = dto[key];
    if (value !== undefined && value !== null) base[key] = value;
  }
  return {
    model,
    stream,
    previousResponseId: dto.previous_response_id ?? undefined,
    requestedMaxTokens: dto.max_output_tokens ?? undefined,
    promptCeiling,
    // Bytes / 3 never under-counts CJK text (3 bytes a character, about a token each) and
    // over-counts English (~4 characters a token) by a third: billed only when upstream
    // reports no usage.
    promptEstimate: Math.ceil(measure.bytes / 3) + items * MESSAGE_OVERHEAD_TOKENS,
    base,
  };
}

export interface ResponseDecisions {
  readonly maxOutputTokens: number;
  /** The stable hash that stands for the Keyward user upstream. */
  readonly safetyIdentifier: string;
  readonly store: boolean;
  /** Only when the caller owns it (checked before). */
  readonly previousResponseId?: string;
}

function decided(request: SanitizedResponseRequest, decisions: ResponseDecisions) {
  return {
    ...request.base,
    max_output_tokens: decisions.maxOutputTokens,
    safety_identifier: decisions.safetyIdentifier,
    store: decisions.store,
    ...(decisions.previousResponseId ? { previous_response_id: decisions.previousResponseId } : {}),
  };
}

export function nonStreamingResponseBody(
  request: SanitizedResponseRequest,
  decisions: ResponseDecisions,
): ResponseCreateParamsNonStreaming {
  return { ...decided(request, decisions), stream: false };
}

export function streamingResponseBody(
  request: SanitizedResponseRequest,
  decisions: ResponseDecisions,
): ResponseCreateParamsStreaming {
  return { ...decided(request, decisions), stream: true };
}
