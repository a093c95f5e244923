import { z } from 'zod';
import { DEFAULT_IMAGE_TOKENS, type ImageTokenCost } from '../chat/image-policy';
import { boolean, commaList, integer, optionalString } from './schema-helpers';

/** OpenAI's service tiers; the ones not in CHAT_SERVICE_TIERS are refused (they change the price). */
const SERVICE_TIERS = ['auto', 'default', 'flex', 'scale', 'priority', 'fast'] as const;

const tokens = z.number().int().min(0).max(10_000_000);
/** CHAT_IMAGE_TOKENS: `{"model": tokens}` or `{"model": {"high": tokens, "low": tokens}}`. */
const imageTokensSchema = z.record(
  z.string().min(1),
  z.union([tokens, z.object({ high: tokens, low: tokens }).strict()]),
);

function imageTokenTable(json: string | undefined, ctx: z.RefinementCtx) {
  const table: Record<string, ImageTokenCost> = { ...DEFAULT_IMAGE_TOKENS };
  if (json === undefined) return table;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    ctx.addIssue({ code: 'custom', path: ['CHAT_IMAGE_TOKENS'], message: 'is not valid JSON' });
    return z.NEVER;
  }
  const result = imageTokensSchema.safeParse(parsed);
  if (!result.success) {
    ctx.addIssue({
      code: 'custom',
      path: ['CHAT_IMAGE_TOKENS'],
      message: 'must map model names to token counts or {high, low}',
    });
    return z.NEVER;
  }
  for (const [model, cost] of Object.entries(result.data)) {
    table[model] = typeof cost === 'number' ? { high: cost, low: cost } : cost;
  }
  return table;
}

export const chatConfigSchema = z
  .object({
    OPENAI_API_KEY: optionalString(),
    OPENAI_API_KEY_FILE: optionalString(),
    OPENAI_BASE_URL: optionalString().refine(
      (value) => value === undefined || /^https?:\/\/[^\s]+$/.test(value),
      'must be an http(s) URL',
    ),
    CHAT_MODELS: commaList('gpt-4o-mini').refine((list) => list.length > 0, 'is empty'),
    EMBEDDING_MODELS: commaList('text-embedding-3-small').refine(
      (list) => list.length > 0,
      'is empty',
    ),
    RESPONSES_STORE: boolean(true),
    CHAT_MAX_MESSAGES: integer(100, 1),
    CHAT_MAX_INPUT_CHARS: integer(100000, 1),
    CHAT_RPM: integer(60, 0),
    CHAT_DAILY_TOKENS: integer(200000, 0),
    UPSTREAM_TIMEOUT_MS: integer(60000, 100),
    CHAT_MAX_IMAGES: integer(10, 0, 1000),
    CHAT_IMAGE_TOKENS: optionalString(),
    CHAT_SERVICE_TIERS: commaList('auto,default').refine(
      (list) => list.every((tier) => (SERVICE_TIERS as readonly string[]).includes(tier)),
      `lists a tier that is not one of ${SERVICE_TIERS.join(', ')}`,
    ),
    CHAT_STORE: boolean(false),
  })
  .transform((env, ctx) => ({
    /** Unset: chat answers 503 until it is configured. */
    apiKey: env.OPENAI_API_KEY,
    baseUrl: env.OPENAI_BASE_URL,
    models: env.CHAT_MODELS,
    defaultModel: env.CHAT_MODELS[0],
    /** `/v1/embeddings` allowlist; the first is the default. */
    embeddingModels: env.EMBEDDING_MODELS,
    /** `store` sent upstream on `/v1/responses`, whatever the client asked. */
    responsesStore: env.RESPONSES_STORE,
    maxMessages: env.CHAT_MAX_MESSAGES,
    maxInputChars: env.CHAT_MAX_INPUT_CHARS,
    rpm: env.CHAT_RPM,
    dailyTokens: env.CHAT_DAILY_TOKENS,
    upstreamTimeoutMs: env.UPSTREAM_TIMEOUT_MS,
    /** Image parts: how many a request may carry, and what each reserves per model. */
    images: {
      maxImages: env.CHAT_MAX_IMAGES,
      imageTokens: imageTokenTable(env.CHAT_IMAGE_TOKENS, ctx),
    },
    /** `service_tier` values a client may ask for (`auto`, `default`: the normal price). */
    serviceTiers: env.CHAT_SERVICE_TIERS,
    /** Whether a client's `store: true` reaches upstream (stored completions live in the shared account). */
    store: env.CHAT_STORE,
  }));
export type ChatConfig = z.output<typeof chatConfigSchema>;
