import { DomainError } from '../common/domain-error';
import { nonStreamingBody, sanitizeChatRequest, streamingBody } from './chat-request.sanitizer';
import { chatCompletionRequestSchema } from './dto/chat-completion-request.schema';
import { DEFAULT_IMAGE_TOKENS } from './image-policy';

const limits = {
  models: ['gpt-4o-mini', 'gpt-4o'],
  defaultModel: 'gpt-4o-mini',
  maxMessages: 3,
  maxInputChars: 50,
  images: { maxImages: 10, imageTokens: DEFAULT_IMAGE_TOKENS },
  serviceTiers: ['auto', 'default'],
  store: false,
};
const decided = { maxTokens: 77, user: 'hash' };

/** The request as the route sees it: parsed by the schema first. */
function sanitize(body: Record<string, unknown>, overrides: Partial<typeof limits> = {}) {
  return sanitizeChatRequest(chatCompletionRequestSchema.parse(body), { ...limits, ...overrides });
}

function refusal(dto: Record<string, unknown>): DomainError {
  try {
    sanitize({ messages: [{ role: 'user', content: 'hi' }], ...dto });
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('sanitizeChatRequest', () => {
  it('uses the default model and rebuilds the body from allowlisted fields only', () => {
    const request = sanitizeChatRequest(
      chatCompletionRequestSchema.parse({
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 0.5,
        user: 'client',
        safety_identifier: 'client-chosen',
        n: 1,
      }),
      limits,
    );
    expect(nonStreamingBody(request, decided)).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      temperature: 0.5,
      max_completion_tokens: 77,
      user: 'hash',
      stream: false,
    });
  });

  it('keeps the client’s max_tokens name and always asks upstream for stream usage', () => {
    const request = sanitizeChatRequest(
      { messages: [{ role: 'user', content: 'hi' }], max_tokens: 500, stream: true },
      limits,
    );
    expect(request).toMatchObject({
      requestedMaxTokens: 500,
      clientWantsUsage: false,
      maxTokensField: 'max_tokens',
    });
    expect(streamingBody(request, decided)).toMatchObject({
      max_tokens: 77,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('refuses models outside the allowlist, naming the param', () => {
    const error = refusal({ model: 'gpt-5' });
    expect(error.options).toMatchObject({ param: 'model', openAiCode: 'model_not_found' });
  });

  it('refuses too many messages and too much input', () => {
    const many = Array.from({ length: 4 }, () => ({ role: 'user' as const, content: 'x' }));
    expect(refusal({ messages: many }).options.param).toBe('messages');
    expect(refusal({ messages: [{ role: 'user', content: 'x'.repeat(51) }] }).detail).toMatch(
      /51 characters/,
    );
  });

  it('refuses stream_options without stream, and role-inconsistent messages', () => {
    expect(refusal({ stream_options: { include_usage: true } }).options.param).toBe(
      'stream_options',
    );
    expect(refusal({ messages: [{ role: 'assistant', content: null }] }).options.param).toBe(
      'messages[0].content',
    );
  });

  it('keeps cost under Keyward’s control: n, service_tier and store', () => {
    expect(refusal({ n: 2 }).options.param).toBe('n');
    expect(refusal({ service_tier: 'priority' }).options.param).toBe('service_tier');
    const hi = [{ role: 'user', content: 'hi' }];
    expect(sanitize({ messages: hi, service_tier: 'auto' }).base.service_tier).toBe('auto');
    expect(
      sanitize({ messages: hi, service_tier: 'flex' }, { serviceTiers: ['flex'] }).base
        .service_tier,
    ).toBe('flex');
    expect(sanitize({ messages: hi, store: true }).base.store).toBe(false);
    expect(sanitize({ messages: hi, store: true }, { store: true }).base.store).toBe(true);
    expect(sanitize({ messages: hi }).base).not.toHaveProperty('store');
  });

  it('relays the fields SDKs send, and never the client’s identity fields', () => {
    const request = sanitize({
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
      ],
      reasoning_effort: 'low',
      parallel_tool_calls: false,
      metadata: { app: 'tests' },
      prompt_cache_key: 'k1',
      verbosity: 'low',
      safety_identifier: 'someone-else',
      user: 'someone-else',
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'r', schema: { type: 'object' }, strict: true },
      },
    });
    const body = nonStreamingBody(request, decided);
    expect(body).toMatchObject({
      reasoning_effort: 'low',
      parallel_tool_calls: false,
      metadata: { app: 'tests' },
      prompt_cache_key: 'k1',
      verbosity: 'low',
      response_format: { type: 'json_schema' },
      user: 'hash',
    });
    expect(body).not.toHaveProperty('safety_identifier');
  });

  it('takes an assistant message back exactly as the API returned it, minus response-only members', () => {
    const returned = {
      role: 'assistant',
      content: null,
      refusal: null,
      annotations: [],
      parsed: null,
      audio: { id: 'audio_1', data: 'AAAA', expires_at: 1, transcript: 'hi' },
      tool_calls: [
        {
          id: 'call_1',
          type: 'function',
          function: { name: 'f', arguments: '{}', parsed_arguments: {} },
        },
      ],
    };
    const request = sanitize(
      {
        messages: [
          { role: 'user', content: 'hi' },
          returned,
          { role: 'tool', tool_call_id: 'call_1', content: '42' },
        ],
      },
      { maxInputChars: 1000 },
    );
    expect(request.base.messages[1]).toEqual({
      role: 'assistant',
      content: null,
      refusal: null,
      audio: { id: 'audio_1' },
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
    });
  });

  it('refuses file ids (no user owns one here) and reserves for inline media', () => {
    const file = (f: Record<string, unknown>) => ({
      messages: [{ role: 'user', content: [{ type: 'file', file: f }] }],
    });
    expect(refusal(file({ file_id: 'file-abc' })).options.param).toBe(
      'messages[0].content[0].file.file_id',
    );
    const text = sanitize({ messages: [{ role: 'user', content: 'hi' }] });
    const audio = sanitize({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'input_audio', input_audio: { data: 'A'.repeat(1000), format: 'mp3' } },
          ],
        },
      ],
    });
    expect(audio.promptCeiling).toBeGreaterThanOrEqual(text.promptCeiling + 1000 - 2);
  });
});

describe('chatCompletionRequestSchema', () => {
  const parse = (body: Record<string, unknown>) =>
    chatCompletionRequestSchema.safeParse({ messages: [{ role: 'user', content: 'hi' }], ...body });

  it.each([
    ['an unknown field', { foo: 1 }],
    ['an unknown message field', { messages: [{ role: 'user', content: 'x', audio: {} }] }],
    ['an unknown role', { messages: [{ role: 'boss', content: 'x' }] }],
    [
      'tool_calls on a user message',
      { messages: [{ role: 'user', content: 'x', tool_calls: [] }] },
    ],
    ['a tool message without tool_call_id', { messages: [{ role: 'tool', content: 'x' }] }],
    ['an empty content array', { messages: [{ role: 'user', content: [] }] }],
    [
      'an image without url',
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] },
    ],
    [
      'an image detail outside the enum',
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: 'https://x.test/a.png', detail: 'ultra' } },
            ],
          },
        ],
      },
    ],
    [
      'an image part on a system message',
      {
        messages: [
          { role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x' } }] },
        ],
      },
    ],
    [
      'more than 16 metadata pairs',
      { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
    ],
    ['a NaN-free temperature out of range', { temperature: 3 }],
    ['a non-integer max_tokens', { max_tokens: 1.5 }],
    ['five stop sequences', { stop: ['a', 'b', 'c', 'd', 'e'] }],
  ])('refuses %s', (_name, body) => {
    expect(parse(body).success).toBe(false);
  });

  it('accepts null for the nullable fields SDKs send', () => {
    const result = parse({ temperature: null, max_tokens: null, stop: null, n: null, seed: null });
    expect(result.success).toBe(true);
  });
});
