import { ChatStreamTranslator, StreamFault } from './chat-stream.translator';

const bytes = (text: string) => new TextEncoder().encode(text);
const chunk = (content: string, usage: unknown = null) =>
  `data: ${JSON.stringify({ id: 'c', choices: [{ index: 0, delta: { content } }], usage })}\n\n`;
const usageChunk = `data: ${JSON.stringify({ id: 'c', choices: [], usage: { prompt_tokens: 7, completion_tokens: 3 } })}\n\n`;

describe(ChatStreamTranslator.name, () => {
  it('relays complete events as they arrive, even split across network chunks', () => {
    const translator = new ChatStreamTranslator(true);
    const event = chunk('Hello');
    expect(translator.push(bytes(event.slice(0, 10)))).toBe('');
    expect(translator.push(bytes(event.slice(10)))).toBe(event);
    expect(translator.push(bytes('data: [DONE]\r\n\r\n'))).toBe('data: [DONE]\n\n');
    expect(translator.done).toBe(true);
    expect(translator.completionText).toBe('Hello');
  });

  it('records usage and strips it when the client did not ask', () => {
    const translator = new ChatStreamTranslator(false);
    const out = translator.push(bytes(chunk('Hi') + usageChunk + 'data: [DONE]\n\n'));
    expect(out).not.toContain('usage');
    expect(out).toContain('"content":"Hi"');
    expect(out.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(translator.usage).toEqual({
      promptTokens: 7,
      cachedTokens: 0,
      completionTokens: 3,
      reasoningTokens: 0,
    });
  });

  it('strips a trailing usage: null without re-serialising, and any other usage by parsing', () => {
    const translator = new ChatStreamTranslator(false);
    // Key order and spacing kept exactly: only the usage member goes.
    const raw = '{"id":"c","choices":[{"index":0,"delta":{"content":"a \\u00e9"}}],"usage":null}';
    expect(translator.push(bytes(`data: ${raw}\n\n`))).toBe(
      'data: {"id":"c","choices":[{"index":0,"delta":{"content":"a \\u00e9"}}]}\n\n',
    );
    // Not last, spaced, or present twice: parsed, the key removed, re-serialised.
    for (const payload of [
      '{"usage":null,"id":"c","choices":[]}',
      '{"id":"c","choices":[], "usage": null}',
      '{"usage":{"prompt_tokens":1},"id":"c","choices":[{"index":0}],"usage":null}',
    ]) {
      const out = translator.push(bytes(`data: ${payload}\n\n`));
      expect(out).not.toContain('usage');
      expect(JSON.parse(out.slice('data: '.length))).toMatchObject({ id: 'c' });
    }
  });

  it('passes the usage chunk through unchanged when the client asked', () => {
    const translator = new ChatStreamTranslator(true);
    expect(translator.push(bytes(usageChunk))).toBe(usageChunk);
  });

  it('ignores comments and keep-alives', () => {
    const translator = new ChatStreamTranslator(true);
    expect(translator.push(bytes(': ping\n\n'))).toBe('');
  });

  it.each([
    ['malformed JSON', 'data: {not json\n\n', 'malformed'],
    ['a non-object', 'data: 42\n\n', 'malformed'],
    ['an error object', 'data: {"error":{"message":"secret upstream text"}}\n\n', 'upstream_error'],
    ['an error event', 'event: error\ndata: {}\n\n', 'upstream_error'],
  ])('faults on %s', (_name, input, reason) => {
    const translator = new ChatStreamTranslator(true);
    expect(() => translator.push(bytes(input))).toThrow(
      new StreamFault(reason as StreamFault['reason']),
    );
  });

  it('faults when the body ends before [DONE]', () => {
    const translator = new ChatStreamTranslator(true);
    translator.push(bytes(chunk('Hi')));
    expect(() => translator.end()).toThrow(StreamFault);
  });
});
