import type { EmbeddingCreateParams } from 'openai/resources/embeddings';
import { z } from 'zod';

/** OpenAI's limits: at most 2048 inputs a request; token ids are non-negative integers. */
export const MAX_EMBEDDING_INPUTS = 2048;
const tokenId = z
  .int()
  .min(0)
  .max(2 ** 31 - 1);
const tokens = z.array(tokenId).min(1);

/**
 * `POST /v1/embeddings`, one entry per field of the pinned SDK's `EmbeddingCreateParams`
 * (the `satisfies` clause fails the type check when the SDK adds one).
 */
const fields = {
  input: z.union([
    z.string().min(1, 'must not be empty'),
    z.array(z.string().min(1, 'must not be empty')).min(1).max(MAX_EMBEDDING_INPUTS),
    tokens.max(MAX_EMBEDDING_INPUTS * 8192),
    z.array(tokens).min(1).max(MAX_EMBEDDING_INPUTS),
  ]),
  model: z.string().max(256),
  dimensions: z.int().min(1).max(65_536).optional(),
  encoding_format: z.enum(['float', 'base64']).optional(),
  user: z.string().max(256).optional(),
} satisfies Record<keyof EmbeddingCreateParams, z.ZodType>;

export const embeddingCreateSchema = z.strictObject(fields);

export type EmbeddingCreateRequest = z.output<typeof embeddingCreateSchema>;
