import { DomainError } from '../common/domain-error';
import { responseCreateSchema, RESPONSE_CREATE_FIELDS } from './dto/response-create.schema';
import {
  nonStreamingResponseBody,
  sanitizeResponseRequest,
  streamingResponseBody,
} from './response-request.sanitizer';
import { LARGEST_IMAGE_TOKENS as IMAGE_TOKEN_CEILING } from '../chat/image-policy';

const limits = {
  models: ['gpt-4o-mini', 'gpt-4o'],
  defaultModel: 'gpt-4o-mini',
  maxMessages: 10,
  maxInputChars: 10_000,
};
const decisions = { maxOutputTokens: 100, safetyIdentifier: 'hash', store: true };

function sanitize(body: Record<string, unknown>) {
  return sanitizeResponseRequest(responseCreateSchema.parse(body), limits);
}

function refusal(body: Record<string, unknown>): DomainError {
  try {
    sanitize(body);
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('sanitizeResponseRequest', () => {
  it('knows every field of the SDK’s ResponseCreateParams (the type check pins the list)', () => {
    expect(RESPONSE_CREATE_FIELDS).toEqual(
      expect.arrayContaining([
        'input',
        'instructions',
        'max_output_tokens',
        'previous_response_id',
        'tools',
      ]),
    );
    expect(responseCreateSchema.safeParse({ input: 'a', not_a_field: 1 }).success).toBe(false);
  });

  it('rebuilds the upstream body: Keyward decides the cap, store, identifier and stream', () => {
    const request = sanitize({
      input: 'hi',
      temperature: 0.5,
      store: false,
      user: 'client',
      safety_identifier: 'client',
      max_output_tokens: 5000,
      metadata: { a: 'b' },
    });
    expect(request.requestedMaxTokens).toBe(5000);
    expect(nonStreamingResponseBody(request, decisions)).toEqual({
      model: 'gpt-4o-mini',
      input: 'hi',
      temperature: 0.5,
      metadata: { a: 'b' },
      max_output_tokens: 100,
      safety_identifier: 'hash',
      store: true,
      stream: false,
    });
    expect(
      streamingResponseBody(request, { ...decisions, previousResponseId: 'resp_1' }),
    ).toMatchObject({
      stream: true,
      previous_response_id: 'resp_1',
    });
  });

  it('bounds the input tokens from above: UTF-8 bytes, item overheads, an image ceiling', () => {
    const text = sanitize({ input: 'ééé' });
    // 6 bytes of text at least; never fewer tokens than bytes would allow.
    expect(text.promptCeiling).toBeGreaterThanOrEqual(6);
    const image = sanitize({
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'what is this?' },
            { type: 'input_image', image_url: `data:image/png;base64,${'A'.repeat(5000)}` },
          ],
        },
      ],
    });
    // The image counts as an image, not as 5000 bytes of text.
    expect(image.promptCeiling).toBeGreaterThanOrEqual(IMAGE_TOKEN_CEILING);
    expect(image.promptCeiling).toBeLessThan(IMAGE_TOKEN_CEILING + 1000);
  });

  it.each([
    [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type'],
    [
      { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }] },
      'input[0].content[0].file_id',
    ],
    [
      {
        input: [
          { role: 'user', content: [{ type: 'input_file', file_url: 'file:///etc/passwd' }] },
        ],
      },
      'input[0].content[0].file_url',
    ],
    [
      {
        input: [
          { role: 'user', content: [{ type: 'input_image', image_url: 'http://10.0.0.1/a.png' }] },
        ],
      },
      'input[0].content[0].image_url',
    ],
    [{ model: 'o1-pro' }, 'model'],
    [{ input: 'x'.repeat(10_001) }, 'input'],
    [{ input: Array.from({ length: 11 }, () => ({ role: 'user', content: 'a' })) }, 'input'],
    [{ input: 'a', stream_options: { include_obfuscation: true } }, 'stream_options'],
  ])('refuses %j naming %s', (body, param) => {
    expect(refusal(body).options.param).toBe(param);
  });

  it.each([
    [{ background: true }, 'background'],
    [{ service_tier: 'flex' }, 'service_tier'],
    [{ tools: [{ type: 'mcp', server_url: 'https://evil.example' }] }, 'tools'],
    [{ conversation: { id: 'conv_1' } }, 'conversation'],
    [{ max_output_tokens: 15 }, 'max_output_tokens'],
    [{ unknown: true }, ''],
  ])('the schema refuses %j', (body, path) => {
    const result = responseCreateSchema.safeParse(body);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0].path.join('.')).toContain(path);
  });
});
