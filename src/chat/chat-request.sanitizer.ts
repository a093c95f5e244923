import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import { invalidParam } from '../common/zod-body.pipe';
import type { ChatConfig } from '../config/chat.config';
import type { ChatCompletionRequest, ChatMessage } from './dto/chat-completion-request.schema';
import { imageParts } from './image-parts';
import { reserveImageTokens } from './image-policy';
import { estimatePromptTokens, inputChars, promptTokenCeiling } from './token-estimate';

/** What the upstream body is built from, once the budget has decided `max_tokens`. */
type UpstreamBase = Omit<ChatCompletionCreateParamsNonStreaming, 'stream' | 'stream_options'>;

/** A validated, allowlisted chat request: nothing in it came from the client unchecked. */
export interface SanitizedChatRequest {
  readonly model: string;
  /** The client asked for the usage chunk (`stream_options.include_usage`). */
  readonly clientWantsUsage: boolean;
  /** The client's `stream_options.include_obfuscation`, relayed. */
  readonly obfuscation?: boolean;
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
  'models' | 'defaultModel' | 'maxMessages' | 'maxInputChars' | 'serviceTiers' | 'store' | 'images'
>;

/**
 * What happens to each request field (docs/chat.md, "Fields"): `relay` goes upstream as the
 * client sent it; `decided` is Keyward's (rebuilt, clamped, replaced or refused below). The
 * `satisfies` makes a field added to the schema fail to compile until it is classified here.
 */
const FIELD_POLICY = {
  messages: 'decided',
  model: 'decided',
  max_completion_tokens: 'decided',
  max_tokens: 'decided',
  n: 'decided',
  service_tier: 'decided',
  store: 'decided',
  stream: 'decided',
  stream_options: 'decided',
  user: 'decided',
  safety_identifier: 'decided',
  audio: 'relay',
  frequency_penalty: 'relay',
  function_call: 'relay',
  functions: 'relay',
  logit_bias: 'relay',
  logprobs: 'relay',
  metadata: 'relay',
  modalities: 'relay',
  moderation: 'relay',
  parallel_tool_calls: 'relay',
  prediction: 'relay',
  presence_penalty: 'relay',
  prompt_cache_key: 'relay',
  prompt_cache_options: 'relay',
  prompt_cache_retention: 'relay',
  reasoning_effort: 'relay',
  response_format: 'relay',
  seed: 'relay',
  stop: 'relay',
  temperature: 'relay',
  tool_choice: 'relay',
  tools: 'relay',
  top_logprobs: 'relay',
  top_p: 'relay',
  verbosity: 'relay',
  web_search_options: 'relay',
} as const satisfies Record<keyof ChatCompletionRequest, 'relay' | 'decided'>;

const RELAYED = (Object.keys(FIELD_POLICY) as (keyof typeof FIELD_POLICY)[]).filter(
  (field) => FIELD_POLICY[field] === 'relay',
);

/**
 * A message as upstream gets it: what the API returned but does not take back
 * (`annotations`, the SDK's `parsed` and `parsed_arguments`, an audio reply's data) is
 * dropped, so the tool loop's `messages.push(completion.choices[0].message)` works.
 */
function upstreamMessage(message: ChatMessage, index: number): ChatCompletionMessageParam {
  const param = `messages[${index}]`;
  if (message.role === 'user' && Array.isArray(message.content)) {
    message.content.forEach((part, partIndex) => {
      if (part.type === 'file' && part.file.file_id !== undefined) {
        throw invalidParam(
          'File ids are not accepted here: send the file inline as file_data.',
          `${param}.content[${partIndex}].file.file_id`,
        );
      }
      if (part.type === 'file' && part.file.file_data === undefined) {
        throw invalidParam('A file part needs file_data.', `${param}.content[${partIndex}].file`);
      }
    });
  }
  if (message.role !== 'assistant') return message;
  const { content, refusal, name, function_call, audio, tool_calls } = message;
  const hasSomething =
    content != null ||
    (tool_calls?.length ?? 0) > 0 ||
    function_call != null ||
    audio != null ||
    refusal != null;
  if (!hasSomething)
    throw invalidParam(`${param} needs content or tool_calls.`, `${param}.content`);
  // Copied member by member: what is not named here does not go upstream.
  const assistant: ChatCompletionAssistantMessageParam = { role: 'assistant' };
  if (content !== undefined) assistant.content = content;
  if (refusal !== undefined) assistant.refusal = refusal;
  if (name !== undefined) assistant.name = name;
  if (function_call !== undefined) assistant.function_call = function_call;
  if (audio !== undefined) assistant.audio = audio && { id: audio.id };
  if (tool_calls) {
    assistant.tool_calls = tool_calls.map((call) =>
      call.type === 'custom'
        ? call
        : {
            id: call.id,
            type: 'function',
            function: { name: call.function.name, arguments: call.function.arguments },
          },
    );
  }
  return assistant;
}

/** Copies the relayed fields the client set; null counts as unset. */
function relayedFields(request: ChatCompletionRequest): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const key of RELAYED) {
    const value = request[key];
    if (value !== undefined && value !== null) picked[key] = value;
  }
  return picked;
}

/**
 * The chat model a request names (the first of CHAT_MODELS when it names none), refused unless
 * CHAT_MODELS allows it; the same rule for `/v1/chat/completions` and `/v1/responses`.
 */
export function chatModel(
  requested: string | undefined,
  limits: Pick<ChatConfig, 'models' | 'defaultModel'>,
): string {
  const model = requested ?? limits.defaultModel;
  if (!limits.models.includes(model)) {
    throw invalidParam(
      `The model '${model}' is not available here; see GET /v1/models.`,
      'model',
      'model_not_found',
    );
  }
  return model;
}

/**
 * docs/reference.md "Chat", request hygiene: the model must be allowlisted, message count and
 * input size are limited, and the upstream body is rebuilt from the fields above only: the
 * client's `user`, `n`, `store`, `service_tier`, `stream_options` and token caps are
 * decided here, not relayed.
 */
export function sanitizeChatRequest(
  dto: ChatCompletionRequest,
  limits: ChatLimits,
): SanitizedChatRequest {
  const model = chatModel(dto.model, limits);
  if (dto.messages.length > limits.maxMessages) {
    throw invalidParam(
      `At most ${limits.maxMessages} messages are allowed per request.`,
      'messages',
    );
  }
  if (dto.n != null && dto.n !== 1) {
    // Budgets reserve one completion's worth of tokens.
    throw invalidParam('Only n = 1 is supported here.', 'n');
  }
  if (dto.service_tier != null && !limits.serviceTiers.includes(dto.service_tier)) {
    throw invalidParam(
      `The service tier '${dto.service_tier}' is not available here; allowed: ${limits.serviceTiers.join(', ')}.`,
      'service_tier',
    );
  }
  const stream = dto.stream === true;
  if (dto.stream_options && !stream) {
    throw invalidParam(
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      'stream_options',
    );
  }
  const messages = dto.messages.map(upstreamMessage);
  // Image parts: count and URLs checked, each reserving its worst case on this model.
  const imageTokens = reserveImageTokens(imageParts(dto.messages), model, limits.images);
  const base = {
    model,
    messages,
    ...(relayedFields(dto) as Partial<Omit<UpstreamBase, 'model' | 'messages'>>),
    ...(dto.service_tier != null ? { service_tier: dto.service_tier } : {}),
    // Stored completions live in the shared upstream account: only where the operator says.
    ...(dto.store != null ? { store: dto.store && limits.store } : {}),
  };
  const counted = {
    // What the model reads: the upstream messages, response-only members gone.
    messages,
    tools: dto.functions ? [...(dto.tools ?? []), ...dto.functions] : dto.tools,
    tool_choice: dto.tool_choice ?? dto.function_call,
    response_format: dto.response_format,
  };
  const chars = inputChars(counted);
  if (chars > limits.maxInputChars) {
    throw invalidParam(
      `The input is ${chars} characters; at most ${limits.maxInputChars} are allowed.`,
      'messages',
    );
  }
  const requestedMaxTokens = dto.max_completion_tokens ?? dto.max_tokens ?? undefined;
  let promptEstimate: number | undefined;
  return {
    model,
    clientWantsUsage: stream && dto.stream_options?.include_usage === true,
    obfuscation: dto.stream_options?.include_obfuscation,
    requestedMaxTokens,
    maxTokensField:
      dto.max_tokens != null && dto.max_completion_tokens == null
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
    stream_options: {
      include_usage: true,
      ...(request.obfuscation === undefined ? {} : { include_obfuscation: request.obfuscation }),
    },
  };
}
