import { DomainError } from '../common/domain-error';
import { nonStreamingBody, sanitizeChatRequest, streamingBody } from './chat-request.sanitizer';
import type { ChatCompletionRequestDto } from './dto/chat-completion-request.dto';
import { DEFAULT_IMAGE_TOKENS } from './image-policy';

const limits = {
  models: ['gpt-4o-mini', 'gpt-4o'],
  defaultModel: 'gpt-4o-mini',
  maxMessages: 3,
  maxInputChars: 50,
  images: { maxImages: 10, imageTokens: DEFAULT_IMAGE_TOKENS },
};
const decided = { maxTokens: 77, user: 'hash' };

function refusal(dto: Partial<ChatCompletionRequestDto>): DomainError {
  try {
    sanitizeChatRequest({ messages: [{ role: 'user', content: 'hi' }], ...dto }, limits);
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('sanitizeChatRequest', () => {
  it('uses the default model and rebuilds the body from allowlisted fields only', () => {
    const request = sanitizeChatRequest(
      {
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 0.5,
        user: 'client',
        n: 1,
      },
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
      {
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 500,
        stream: true,
      },
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
    expect(refusal({ model: 'gpt-5' }).options.param).toBe('model');
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
    expect(refusal({ messages: [{ role: 'user' }] }).options.param).toBe('messages[0].content');
    expect(refusal({ messages: [{ role: 'tool', content: 'x' }] }).options.param).toBe(
      'messages[0].tool_call_id',
    );
  });
});
