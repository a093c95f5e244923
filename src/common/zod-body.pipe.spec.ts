import { chatCompletionRequestSchema } from '../chat/dto/chat-completion-request.schema';
import { DomainError } from './domain-error';
import { ZodBodyPipe } from './zod-body.pipe';

const pipe = new ZodBodyPipe(chatCompletionRequestSchema);
const hi = [{ role: 'user', content: 'hi' }];

function refusal(body: unknown): DomainError {
  try {
    pipe.transform(body);
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe(ZodBodyPipe.name, () => {
  it.each([
    ['an unknown field', { messages: hi, foo: 1 }, 'foo', /Unrecognized request argument/],
    [
      'an unknown content part type',
      { messages: [{ role: 'user', content: [{ type: 'video_url', video_url: {} }] }] },
      'messages[0].content[0].type',
      /supported values are 'text', 'image_url', 'input_audio', 'file'/,
    ],
    [
      'a wrong field deep in the second part',
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'x' },
              { type: 'image_url', image_url: { url: 5 } },
            ],
          },
        ],
      },
      'messages[0].content[1].image_url.url',
      /expected string/,
    ],
    [
      'content of the wrong type',
      { messages: [{ role: 'user', content: 5 }] },
      'messages[0].content',
      /expected string or array/,
    ],
    [
      'an unknown role',
      { messages: [{ role: 'boss', content: 'x' }] },
      'messages[0].role',
      /supported values/,
    ],
    [
      'a refusal field on a user message',
      { messages: [{ role: 'user', content: 'x', refusal: null }] },
      'messages[0].refusal',
      /Unrecognized/,
    ],
  ])('refuses %s, naming it as OpenAI does', (_name, body, param, message) => {
    const error = refusal(body);
    expect(error.code).toBe('validation_failed');
    expect(error.options.param).toBe(param);
    expect(error.detail).toMatch(message);
  });

  it('refuses a non-object body and prototype-pollution keys at any depth', () => {
    expect(refusal([hi]).detail).toMatch(/JSON object/);
    expect(refusal('x').detail).toMatch(/JSON object/);
    const polluted = JSON.parse(
      '{"messages":[{"role":"user","content":"x"}],"metadata":{"constructor":"x"}}',
    ) as unknown;
    expect(refusal(polluted).options.errors?.[0].field).toBe('metadata.constructor');
  });

  it('echoes an unknown key cut short, NUL bytes and all', () => {
    const error = refusal({ messages: hi, ['k\u0000'.repeat(10_000)]: 1 });
    expect(error.options.param).toHaveLength(65);
    expect(error.options.param?.startsWith('k\u0000k')).toBe(true);
    expect(error.detail.length).toBeLessThan(200);
  });

  it('returns the parsed body when it is valid', () => {
    expect(pipe.transform({ messages: hi, temperature: 0 })).toEqual({
      messages: hi,
      temperature: 0,
    });
  });
});
