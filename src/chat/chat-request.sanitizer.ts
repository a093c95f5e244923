import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { DomainError } from '../common/domain-error';
import type { ChatConfig } from '../config/chat.config';
import type { ChatCompletionRequestDto, ChatMessageDto } from './dto/chat-completion-request.dto';
import { reserveImageTokens } from './image-policy';
import { estimatePromptTokens, inputChars, promptTokenCeiling } from './token-estimate';

/** What the upstream body is built from, once the budget has decided `max_tokens`. */
type UpstreamBase = Omit<ChatCompletionCreateParamsNonStreaming, 'stream' | 'stream_options'>;

/** A validated, allowlisted chat request: nothing in it came from the client unchecked. */
export interface SanitizedChatRequest {
  readonly model: string;
  /** The client asked for the usage chunk (`stream_options.include_usage`). */
  readonly clientWantsUsage: boolean;
  /** The client's own completion cap, if it set one. */
  readonly requestedMaxTokens?: number;
  /** Which name the cap goes upstream under: the client's choice, else the current one. */
  readonly maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Upper bound of the prompt tokens: reserved before the call. */
  readonly promptCeiling: number;
  /**
   * Realistic count of the prompt tokens (tokenizer; images at their reservation): billed
   * when upstream never reports usage.
   */
  readonly promptEstimate: number;
  readonly base: Omit<UpstreamBase, 'max_tokens' | 'max_completion_tokens' | 'user'>;
}

type ChatLimits = Pick<
  ChatConfig,
  'models' | 'defaultModel' | 'maxMessages' | 'maxInputChars' | 'images'
>;

function invalid(detail: string, param: string): DomainError {
  return new DomainError('validation_failed', detail, {
    param,
    errors: [{ field: param, message: detail }],
  });
}

/** Copies only the fields a message may carry; class instances become plain JSON. */
function plainMessage(message: ChatMessageDto, index: number): ChatCompletionMessageParam {
  const needsContent = message.role !== 'assistant';
  if (needsContent && (message.content === undefined || message.content === null)) {
    throw invalid(
      `messages[${index}].content is required for ${message.role} messages.`,
      `messages[${index}].content`,
    );
  }
  if (message.role === 'assistant' && message.content == null && !message.tool_calls?.length) {
    throw invalid(`messages[${index}] needs content or tool_calls.`, `messages[${index}].content`);
  }
  if (message.role === 'tool' && !message.tool_call_id) {
    throw invalid(
      `messages[${index}].tool_call_id is required for tool messages.`,
      `messages[${index}].tool_call_id`,
    );
  }
  if (message.tool_calls && message.role !== 'assistant') {
    throw invalid(
      `messages[${index}].tool_calls is only allowed on assistant messages.`,
      `messages[${index}].tool_calls`,
    );
  }
  if (message.tool_call_id && message.role !== 'tool') {
    throw invalid(
      `messages[${index}].tool_call_id is only allowed on tool messages.`,
      `messages[${index}].tool_call_id`,
    );
  }
  const plain: Record<string, unknown> = { role: message.role };
  if (message.content !== undefined) plain.content = message.content;
  if (message.name !== undefined) plain.name = message.name;
  if (message.tool_calls !== undefined) plain.tool_calls = message.tool_calls;
  if (message.tool_call_id !== undefined) plain.tool_call_id = message.tool_call_id;
  // Shape checked field by field above and by the DTO's validators.
  return plain as unknown as ChatCompletionMessageParam;
}

/** Copies the optional sampling fields the client set; null counts as unset. */
function pickDefined<T extends object, K extends keyof T>(
  source: T,
  keys: readonly K[],
): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) {
    const value = source[key];
    if (value !== undefined && value !== null) picked[key] = value;
  }
  return picked;
}

const PASSED_THROUGH = [
  'temperature',
  'top_p',
  'stop',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'response_format',
  'tools',
  'tool_choice',
  'logit_bias',
  'logprobs',
  'top_logprobs',
] as const;

/**
 * SPEC "Chat", request hygiene: the model must be allowlisted, message count and input
 * size are limited, and the upstream body is rebuilt from allowlisted fields only (the
 * client's `user`, `n`, `stream_options` and token caps are decided here, not relayed).
 */
export function sanitizeChatRequest(
  dto: ChatCompletionRequestDto,
  limits: ChatLimits,
): SanitizedChatRequest {
  const model = dto.model ?? limits.defaultModel;
  if (!limits.models.includes(model)) {
    throw invalid(`The model '${model}' is not available here; see GET /v1/models.`, 'model');
  }
  if (dto.messages.length > limits.maxMessages) {
    throw invalid(`At most ${limits.maxMessages} messages are allowed per request.`, 'messages');
  }
  const stream = dto.stream === true;
  if (dto.stream_options && !stream) {
    throw invalid(
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      'stream_options',
    );
  }
  const messages = dto.messages.map(plainMessage);
  const sampling = pickDefined(dto, PASSED_THROUGH);
  const base = {
    model,
    messages,
    ...(sampling as Partial<Omit<UpstreamBase, 'model' | 'messages'>>),
  };
  const counted = {
    messages: dto.messages,
    tools: dto.tools,
    tool_choice: dto.tool_choice,
    response_format: dto.response_format,
  };
  const chars = inputChars(counted);
  if (chars > limits.maxInputChars) {
    throw invalid(
      `The input is ${chars} characters; at most ${limits.maxInputChars} are allowed.`,
      'messages',
    );
  }
  // Image parts: count and URLs checked, each reserving its worst case on this model.
  const imageTokens = reserveImageTokens(dto.messages, model, limits.images);
  const requestedMaxTokens = dto.max_completion_tokens ?? dto.max_tokens;
  let promptEstimate: number | undefined;
  return {
    model,
    clientWantsUsage: stream && dto.stream_options?.include_usage === true,
    requestedMaxTokens,
    maxTokensField:
      dto.max_tokens !== undefined && dto.max_completion_tokens === undefined
        ? 'max_tokens'
        : 'max_completion_tokens',
    promptCeiling: promptTokenCeiling(counted) + imageTokens,
    // Tokenised only if a bill needs it (a call that ended without usage).
    get promptEstimate() {
      promptEstimate ??= estimatePromptTokens(counted) + imageTokens;
      return promptEstimate;
    },
    base,
  };
}

interface UpstreamDecisions {
  /** The completion cap the budget granted. */
  readonly maxTokens: number;
  /** The stable hash that replaces the client's `user`. */
  readonly user: string;
}

export function nonStreamingBody(
  request: SanitizedChatRequest,
  decided: UpstreamDecisions,
): ChatCompletionCreateParamsNonStreaming {
  return {
    ...request.base,
    [request.maxTokensField]: decided.maxTokens,
    user: decided.user,
    stream: false,
  };
}

/** Usage is always requested upstream, so even a stream is billed exactly. */
export function streamingBody(
  request: SanitizedChatRequest,
  decided: UpstreamDecisions,
): ChatCompletionCreateParamsStreaming {
  return {
    ...request.base,
    [request.maxTokensField]: decided.maxTokens,
    user: decided.user,
    stream: true,
    stream_options: { include_usage: true },
  };
}
