import type { EmbeddingCreateParams } from 'openai/resources/embeddings';
import { invalidParam } from '../common/zod-body.pipe';
import type { ChatConfig } from '../config/chat.config';
import type { EmbeddingCreateRequest } from './dto/embedding-create.schema';

export interface SanitizedEmbeddingRequest {
  readonly model: string;
  /** Upper bound of the input tokens (UTF-8 bytes of text, one per token id). */
  readonly promptCeiling: number;
  readonly body: Omit<EmbeddingCreateParams, 'user'>;
}

type Limits = Pick<ChatConfig, 'embeddingModels' | 'maxInputChars'>;

/**
 * `POST /v1/embeddings` hygiene: an allowlisted model (EMBEDDING_MODELS), the input's size
 * bounded by CHAT_MAX_INPUT_CHARS (a token id counts as one character: a token is at
 * least one), and the reservation bound: BPE tokens never outnumber UTF-8 bytes.
 */
export function sanitizeEmbeddingRequest(
  dto: EmbeddingCreateRequest,
  limits: Limits,
): SanitizedEmbeddingRequest {
  if (!limits.embeddingModels.includes(dto.model)) {
    throw invalidParam(
      `The model '${dto.model}' is not available for embeddings here.`,
      'model',
      'model_not_found',
    );
  }
  const inputs: ReadonlyArray<string | readonly number[]> =
    typeof dto.input === 'string'
      ? [dto.input]
      : dto.input.length > 0 && typeof dto.input[0] === 'number'
        ? [dto.input as number[]]
        : (dto.input as Array<string | number[]>);
  let chars = 0;
  let ceiling = 0;
  for (const input of inputs) {
    if (typeof input === 'string') {
      chars += input.length;
      ceiling += Buffer.byteLength(input, 'utf8');
    } else {
      chars += input.length;
      ceiling += input.length;
    }
  }
  if (chars > limits.maxInputChars) {
    throw invalidParam(
      `The input is ${chars} characters (or tokens); at most ${limits.maxInputChars} are allowed.`,
      'input',
    );
  }
  return {
    model: dto.model,
    promptCeiling: ceiling,
    body: {
      model: dto.model,
      input: dto.input,
      // Explicit: without it the SDK asks for base64 and decodes it, changing the answer.
      encoding_format: dto.encoding_format ?? 'float',
      ...(dto.dimensions !== undefined ? { dimensions: dto.dimensions } : {}),
    },
  };
}
