/**
 * `POST /v1/embeddings` of the mock: deterministic unit vectors (a SHA-256 stream of the
 * input), `encoding_format` float or base64 (little-endian float32, as OpenAI sends),
 * `dimensions`, and OpenAI's input rules (no empty strings, at most 2048 inputs). Usage:
 * ceil(chars / 4) a string, one token a token id.
 */
import { createHash } from 'node:crypto';
import { countTokens, invalidRequest, isRecord, type MockExchange } from './mock-exchange';

const DEFAULT_DIMENSIONS = 1536;
const MAX_INPUTS = 2048;

type Input = string | number[];

function parseInput(input: unknown): Input[] | ReturnType<typeof invalidRequest> {
  const bad = invalidRequest(
    "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
    'input',
  );
  if (typeof input === 'string') return input === '' ? bad : [input];
  if (!Array.isArray(input) || input.length === 0 || input.length > MAX_INPUTS) return bad;
  if (input.every((item) => typeof item === 'number')) {
    return input.every((n) => Number.isInteger(n) && n >= 0) ? [input] : bad;
  }
  const out: Input[] = [];
  for (const item of input as unknown[]) {
    if (typeof item === 'string' && item !== '') out.push(item);
    else if (
      Array.isArray(item) &&
      item.length > 0 &&
      item.every((n) => Number.isInteger(n) && (n as number) >= 0)
    )
      out.push(item as number[]);
    else return bad;
  }
  return out;
}

function vector(input: Input, dimensions: number): Float32Array {
  const seed = typeof input === 'string' ? input : input.join(',');
  const values = new Float32Array(dimensions);
  let block = Buffer.alloc(0);
  for (let i = 0; i < dimensions; i += 1) {
    if (i % 8 === 0) block = createHash('sha256').update(`${seed}#${i}`).digest();
    values[i] = block.readInt32LE((i % 8) * 4) / 2 ** 31;
  }
  const norm = Math.hypot(...values) || 1;
  for (let i = 0; i < dimensions; i += 1) values[i] /= norm;
  return values;
}

export function embeddings(exchange: MockExchange, body: unknown): void {
  if (!isRecord(body)) {
    exchange.sendJson(400, invalidRequest('We could not parse the JSON body of your request.'));
    return;
  }
  if (typeof body.model !== 'string') {
    exchange.sendJson(400, invalidRequest('You must provide a model parameter.', 'model'));
    return;
  }
  const inputs = parseInput(body.input);
  if ('error' in inputs) {
    exchange.sendJson(400, inputs);
    return;
  }
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    exchange.sendJson(
      400,
      invalidRequest("Invalid value for 'encoding_format'.", 'encoding_format', 'invalid_value'),
    );
    return;
  }
  const dimensions = body.dimensions ?? DEFAULT_DIMENSIONS;
  if (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1) {
    exchange.sendJson(400, invalidRequest("Invalid 'dimensions'.", 'dimensions', 'invalid_value'));
    return;
  }
  if (exchange.fault === 'reset_mid_stream') {
    exchange.destroyConnection();
    return;
  }
  const tokens = inputs.reduce(
    (sum, input) => sum + (typeof input === 'string' ? countTokens(input) : input.length),
    0,
  );
  exchange.reportUsage({ prompt_tokens: tokens, total_tokens: tokens });
  exchange.sendOrTrickle({
    object: 'list',
    data: inputs.map((input, index) => {
      const values = vector(input, dimensions);
      return {
        object: 'embedding',
        index,
        embedding:
          format === 'base64'
            ? Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64')
            : Array.from(values),
      };
    }),
    model: body.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

/** The vector the mock answers for one input: tests compare what a client decoded to it. */
export function expectedEmbedding(input: Input, dimensions = DEFAULT_DIMENSIONS): number[] {
  return Array.from(vector(input, dimensions));
}
