import type { ResponseCreateParamsBase } from 'openai/resources/responses/responses';
import { z } from 'zod';

/** A field Keyward does not offer: only its absence (or null) is accepted. */
const refused = (why: string) => z.null({ error: why }).optional();

const nullable = <S extends z.ZodType>(schema: S) => schema.nullable().optional();

/** Free-form JSON objects whose inner shape is upstream's business (reasoning, text format...). */
const jsonObject = z.record(z.string().max(256), z.unknown());

/**
 * Input items are a union of ~30 shapes in the SDK (messages, tool calls and outputs,
 * reasoning...). They pass as JSON objects with a string `type` (messages may omit it);
 * `response-request.sanitizer.ts` walks them for what matters to Keyward: references to
 * upstream objects other users own, image URLs, and the text the model reads.
 */
const inputItem = z.looseObject({ type: z.string().max(64).optional() });

const TOOL_TYPES = ['function', 'custom'] as const;
const tool = z.looseObject({
  type: z.enum(TOOL_TYPES, {
    error:
      'only function and custom tools are available here (hosted tools use resources and ' +
      'spend outside Keyward’s budgets)',
  }),
});

/**
 * `POST /v1/responses`, one entry per field of the pinned `openai` SDK's
 * `ResponseCreateParamsBase`: the `satisfies` clause fails the type check when the SDK adds
 * a field Keyward has not decided on (or drops one). Tolerant: every field a client
 * library sends is accepted or refused with a reason; an unknown field is a 400 naming it.
 * Cost is Keyward's to decide: `max_output_tokens` is clamped to the budget, `store` is
 * configured, only the `auto`/`default` service tiers, no background runs.
 */
const fields = {
  access_programs: refused('access programs are not available through Keyward'),
  background: z
    .literal(false, { error: 'background responses are not available through Keyward' })
    .nullable()
    .optional(),
  background_options: refused('background responses are not available through Keyward'),
  context_management: nullable(z.array(jsonObject).max(16)),
  conversation: refused(
    'conversations are not available through Keyward; chain responses with previous_response_id',
  ),
  image: jsonObject.optional(),
  include: nullable(z.array(z.string().max(128)).max(32)),
  input: z.union([z.string(), z.array(inputItem)]).optional(),
  instructions: nullable(z.string()),
  // OpenAI's own minimum is 16.
  max_output_tokens: nullable(z.int().min(16)),
  max_tool_calls: nullable(z.int().min(1)),
  metadata: nullable(
    z
      .record(z.string().max(64), z.string().max(512))
      .refine((value) => Object.keys(value).length <= 16, 'at most 16 keys'),
  ),
  model: z.string().max(256).optional(),
  moderation: nullable(jsonObject),
  parallel_tool_calls: nullable(z.boolean()),
  previous_response_id: nullable(z.string().min(1).max(256)),
  prompt: refused('stored prompt templates are not available through Keyward'),
  prompt_cache_key: nullable(z.string().max(1024)),
  prompt_cache_options: jsonObject.optional(),
  prompt_cache_retention: nullable(z.enum(['in_memory', '24h'])),
  reasoning: nullable(jsonObject),
  safety_identifier: nullable(z.string().max(256)),
  service_tier: nullable(
    z.enum(['auto', 'default'], { error: "only 'auto' and 'default' are available here" }),
  ),
  store: nullable(z.boolean()),
  stream: nullable(z.boolean()),
  stream_options: nullable(z.strictObject({ include_obfuscation: z.boolean().optional() })),
  temperature: nullable(z.number().min(0).max(2)),
  text: jsonObject.optional(),
  tool_choice: z.union([z.string().max(64), jsonObject]).optional(),
  tools: z.array(tool).max(128).optional(),
  top_logprobs: nullable(z.int().min(0).max(20)),
  top_p: nullable(z.number().min(0).max(1)),
  truncation: nullable(z.enum(['auto', 'disabled'])),
  user: z.string().max(256).optional(),
} satisfies Record<keyof ResponseCreateParamsBase, z.ZodType>;

export const responseCreateSchema = z.strictObject(fields);

export type ResponseCreateRequest = z.output<typeof responseCreateSchema>;

/** The request fields, for the OpenAPI description and the schema's unit test. */
export const RESPONSE_CREATE_FIELDS = Object.keys(fields);
