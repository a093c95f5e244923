import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionContentPart,
  ChatCompletionContentPartImage,
  ChatCompletionContentPartInputAudio,
  ChatCompletionContentPartRefusal,
  ChatCompletionContentPartText,
  ChatCompletionCreateParamsBase,
  ChatCompletionDeveloperMessageParam,
  ChatCompletionFunctionMessageParam,
  ChatCompletionSystemMessageParam,
  ChatCompletionToolMessageParam,
  ChatCompletionUserMessageParam,
  ParsedChatCompletionMessage,
} from 'openai/resources/chat/completions';
import { z } from 'zod';

/**
 * `POST /v1/chat/completions`, field by field as the pinned `openai` SDK's request types
 * define them (docs/chat.md, "Fields"). Strict objects: a field the SDK does not define is a
 * 400 naming it. The `satisfies`-style checks at the bottom make `tsc` fail when the SDK's
 * types and these shapes drift apart; `chat-completion-request.schema.spec.ts` reads the
 * SDK's declarations and fails too. Cost-relevant fields are validated here and decided in
 * `chat-request.sanitizer.ts`.
 *
 * zod, not class-validator: one compiled parse per request on the hot path.
 */

const nullable = <T extends z.ZodType>(schema: T) => schema.nullable().optional();
const id = z.string().min(1).max(256);
const name = z.string().max(64);
/** Free-form JSON objects (JSON Schemas, allowed tool lists): depth is bounded by the pipe. */
const jsonObject = z.record(z.string(), z.unknown());

const cacheBreakpoint = z.strictObject({
  mode: z.literal('explicit'),
  ttl: z.enum(['30m', '12h']).optional(),
});

export const textPartSchema = z.strictObject({
  type: z.literal('text'),
  text: z.string(),
  prompt_cache_breakpoint: cacheBreakpoint.optional(),
});

export const imagePartSchema = z.strictObject({
  type: z.literal('image_url'),
  image_url: z.strictObject({
    url: z.string().min(1),
    detail: z.enum(['auto', 'low', 'high', 'original']).optional(),
  }),
  prompt_cache_breakpoint: cacheBreakpoint.optional(),
});

export const audioPartSchema = z.strictObject({
  type: z.literal('input_audio'),
  input_audio: z.strictObject({ data: z.string().min(1), format: z.enum(['wav', 'mp3']) }),
  prompt_cache_breakpoint: cacheBreakpoint.optional(),
});

export const filePartSchema = z.strictObject({
  type: z.literal('file'),
  file: z.strictObject({
    file_data: z.string().min(1).optional(),
    // Files live in the shared upstream account and Keyward hosts no Files API: no user
    // owns a file id, so none is accepted (the sanitizer says so, naming the field).
    file_id: z.string().optional(),
    filename: z.string().max(256).optional(),
  }),
  prompt_cache_breakpoint: cacheBreakpoint.optional(),
});

export const refusalPartSchema = z.strictObject({
  type: z.literal('refusal'),
  refusal: z.string(),
});

const textContent = z.union([z.string(), z.array(textPartSchema).min(1)]);
const userContent = z.union([
  z.string(),
  z
    .array(
      z.discriminatedUnion('type', [
        textPartSchema,
        imagePartSchema,
        audioPartSchema,
        filePartSchema,
      ]),
    )
    .min(1),
]);

const functionCall = z.strictObject({ name: z.string().min(1).max(256), arguments: z.string() });

export const functionToolCallSchema = z.strictObject({
  id,
  type: z.literal('function'),
  function: functionCall.extend({
    // Added by the SDK's `parse()` helpers; dropped before the upstream call.
    parsed_arguments: z.unknown().optional(),
  }),
});

export const customToolCallSchema = z.strictObject({
  id,
  type: z.literal('custom'),
  custom: z.strictObject({ name: z.string().min(1).max(256), input: z.string() }),
});

const developerMessage = z.strictObject({
  role: z.literal('developer'),
  content: textContent,
  name: name.optional(),
});
const systemMessage = z.strictObject({
  role: z.literal('system'),
  content: textContent,
  name: name.optional(),
});
const userMessage = z.strictObject({
  role: z.literal('user'),
  content: userContent,
  name: name.optional(),
});
/**
 * Both what a client writes and what the API returned (`ChatCompletionMessage`, plus the
 * SDK's `parse()` additions): the tool loop pushes the returned message back unchanged.
 * Response-only members (`annotations`, `parsed`, the audio's data) are dropped upstream.
 */
export const assistantMessageSchema = z.strictObject({
  role: z.literal('assistant'),
  content: nullable(
    z.union([
      z.string(),
      z.array(z.discriminatedUnion('type', [textPartSchema, refusalPartSchema])).min(1),
    ]),
  ),
  refusal: nullable(z.string()),
  name: name.optional(),
  tool_calls: z
    .array(z.discriminatedUnion('type', [functionToolCallSchema, customToolCallSchema]))
    .max(128)
    .optional(),
  function_call: nullable(functionCall),
  audio: nullable(
    z.strictObject({
      id,
      data: z.string().optional(),
      expires_at: z.number().optional(),
      transcript: z.string().optional(),
    }),
  ),
  annotations: z.array(jsonObject).max(1024).optional(),
  parsed: z.unknown().optional(),
});
const toolMessage = z.strictObject({
  role: z.literal('tool'),
  content: textContent,
  tool_call_id: id,
});
const functionMessage = z.strictObject({
  role: z.literal('function'),
  content: z.string().nullable(),
  name: z.string().min(1).max(64),
});

export const MESSAGE_SCHEMAS = {
  developer: developerMessage,
  system: systemMessage,
  user: userMessage,
  assistant: assistantMessageSchema,
  tool: toolMessage,
  function: functionMessage,
} as const;

export const messageSchema = z.discriminatedUnion('role', [
  developerMessage,
  systemMessage,
  userMessage,
  assistantMessageSchema,
  toolMessage,
  functionMessage,
]);

const functionDefinition = z.strictObject({
  name: z.string().min(1).max(64),
  description: z.string().optional(),
  parameters: jsonObject.optional(),
  strict: nullable(z.boolean()),
});

const functionTool = z.strictObject({ type: z.literal('function'), function: functionDefinition });
const customTool = z.strictObject({
  type: z.literal('custom'),
  custom: z.strictObject({
    name: z.string().min(1).max(64),
    description: z.string().optional(),
    format: z
      .discriminatedUnion('type', [
        z.strictObject({ type: z.literal('text') }),
        z.strictObject({
          type: z.literal('grammar'),
          grammar: z.strictObject({ definition: z.string(), syntax: z.enum(['lark', 'regex']) }),
        }),
      ])
      .optional(),
  }),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: z.string() }) }),
    z.strictObject({ type: z.literal('custom'), custom: z.strictObject({ name: z.string() }) }),
    z.strictObject({
      type: z.literal('allowed_tools'),
      allowed_tools: z.strictObject({
        mode: z.enum(['auto', 'required']),
        tools: z.array(jsonObject).max(128),
      }),
    }),
  ]),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    json_schema: z.strictObject({
      name: z.string().min(1).max(64),
      description: z.string().optional(),
      schema: jsonObject.optional(),
      strict: nullable(z.boolean()),
    }),
  }),
]);

/** OpenAI's limits on `metadata`: 16 pairs, keys up to 64 characters, values up to 512. */
const metadata = z
  .record(z.string().max(64), z.string().max(512))
  .refine((value) => Object.keys(value).length <= 16, 'metadata holds at most 16 pairs');

const maxTokens = nullable(z.number().int().min(1));
const finite = z.number().finite();
const moderationMode = nullable(z.strictObject({ mode: z.enum(['score', 'block']) }));

export const SERVICE_TIERS = ['auto', 'default', 'flex', 'scale', 'priority', 'fast'] as const;

export const chatCompletionRequestShape = {
  messages: z.array(messageSchema).min(1),
  // Optional here: Keyward falls back to the first of CHAT_MODELS.
  model: z.string().min(1).max(256).optional(),
  audio: nullable(
    z.strictObject({
      format: z.enum(['wav', 'aac', 'mp3', 'flac', 'opus', 'pcm16']),
      voice: z.union([z.string().max(64), z.strictObject({ id })]),
    }),
  ),
  frequency_penalty: nullable(finite.min(-2).max(2)),
  function_call: z
    .union([z.enum(['none', 'auto']), z.strictObject({ name: z.string() })])
    .optional(),
  functions: z
    .array(functionDefinition.omit({ strict: true }))
    .max(128)
    .optional(),
  logit_bias: nullable(z.record(z.string().max(16), finite.min(-100).max(100))),
  logprobs: nullable(z.boolean()),
  max_completion_tokens: maxTokens,
  max_tokens: maxTokens,
  metadata: nullable(metadata),
  modalities: nullable(z.array(z.enum(['text', 'audio'])).max(2)),
  moderation: nullable(
    z.strictObject({
      model: z.string().max(256),
      policy: nullable(z.strictObject({ input: moderationMode, output: moderationMode })),
    }),
  ),
  n: nullable(z.number().int()),
  parallel_tool_calls: z.boolean().optional(),
  prediction: nullable(z.strictObject({ type: z.literal('content'), content: textContent })),
  presence_penalty: nullable(finite.min(-2).max(2)),
  prompt_cache_key: nullable(z.string().max(1024)),
  prompt_cache_options: z
    .strictObject({
      mode: z.enum(['implicit', 'explicit']).optional(),
      ttl: z.literal('30m').optional(),
    })
    .optional(),
  prompt_cache_retention: nullable(z.enum(['in_memory', '24h'])),
  reasoning_effort: nullable(z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max'])),
  response_format: responseFormat.optional(),
  safety_identifier: nullable(z.string().max(256)),
  seed: nullable(z.number().int()),
  service_tier: nullable(z.enum(SERVICE_TIERS)),
  stop: nullable(z.union([z.string(), z.array(z.string()).max(4)])),
  store: nullable(z.boolean()),
  stream: nullable(z.boolean()),
  stream_options: nullable(
    z.strictObject({
      include_obfuscation: z.boolean().optional(),
      include_usage: z.boolean().optional(),
    }),
  ),
  temperature: nullable(finite.min(0).max(2)),
  tool_choice: toolChoice.optional(),
  tools: z
    .array(z.discriminatedUnion('type', [functionTool, customTool]))
    .max(128)
    .optional(),
  top_logprobs: nullable(z.number().int().min(0).max(20)),
  top_p: nullable(finite.min(0).max(1)),
  user: z.string().max(256).optional(),
  verbosity: nullable(z.enum(['low', 'medium', 'high'])),
  web_search_options: z
    .strictObject({
      search_context_size: z.enum(['low', 'medium', 'high']).optional(),
      user_location: nullable(
        z.strictObject({
          type: z.literal('approximate'),
          approximate: z.strictObject({
            city: z.string().max(256).optional(),
            country: z.string().max(256).optional(),
            region: z.string().max(256).optional(),
            timezone: z.string().max(256).optional(),
          }),
        }),
      ),
    })
    .optional(),
};

export const chatCompletionRequestSchema = z.strictObject(chatCompletionRequestShape);

/** A request that passed the schema: every field is one the SDK defines, shape-checked. */
export type ChatCompletionRequest = z.output<typeof chatCompletionRequestSchema>;
export type ChatMessage = z.output<typeof messageSchema>;
export type ImagePart = z.output<typeof imagePartSchema>;

// ---------------------------------------------------------------------------------------------
// Compile-time drift checks: `tsc` fails, listing the keys, when the SDK and these shapes differ.

type KeysOf<T> = T extends unknown ? keyof T : never;
type SameKeys<Sdk, Ours> = [Exclude<KeysOf<Sdk>, KeysOf<Ours>>, Exclude<KeysOf<Ours>, KeysOf<Sdk>>];
type Exact<Pair extends [unknown, unknown]> = Pair extends [never, never]
  ? true
  : { missing: Pair[0]; extra: Pair[1] };
type Shape<T extends z.ZodObject> = z.input<T>;

export const DRIFT_CHECKS: {
  request: Exact<SameKeys<ChatCompletionCreateParamsBase, typeof chatCompletionRequestShape>>;
  developer: Exact<SameKeys<ChatCompletionDeveloperMessageParam, Shape<typeof developerMessage>>>;
  system: Exact<SameKeys<ChatCompletionSystemMessageParam, Shape<typeof systemMessage>>>;
  user: Exact<SameKeys<ChatCompletionUserMessageParam, Shape<typeof userMessage>>>;
  assistant: Exact<
    SameKeys<
      ChatCompletionAssistantMessageParam | ParsedChatCompletionMessage<unknown>,
      Shape<typeof assistantMessageSchema>
    >
  >;
  tool: Exact<SameKeys<ChatCompletionToolMessageParam, Shape<typeof toolMessage>>>;
  function: Exact<SameKeys<ChatCompletionFunctionMessageParam, Shape<typeof functionMessage>>>;
  text: Exact<SameKeys<ChatCompletionContentPartText, Shape<typeof textPartSchema>>>;
  image: Exact<SameKeys<ChatCompletionContentPartImage, Shape<typeof imagePartSchema>>>;
  audio: Exact<SameKeys<ChatCompletionContentPartInputAudio, Shape<typeof audioPartSchema>>>;
  file: Exact<SameKeys<ChatCompletionContentPart.File, Shape<typeof filePartSchema>>>;
  refusal: Exact<SameKeys<ChatCompletionContentPartRefusal, Shape<typeof refusalPartSchema>>>;
} = {
  request: true,
  developer: true,
  system: true,
  user: true,
  assistant: true,
  tool: true,
  function: true,
  text: true,
  image: true,
  audio: true,
  file: true,
  refusal: true,
};
