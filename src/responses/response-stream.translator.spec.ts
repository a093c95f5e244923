import { StreamFault } from '../chat/chat-stream.translator';
import { ResponseStreamTranslator } from './response-stream.translator';

const bytes = (text: string) => new TextEncoder().encode(text);
const frame = (type: string, body: Record<string, unknown>) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;

describe(ResponseStreamTranslator.name, () => {
  const created = frame('response.created', { sequence_number: 0, response: { id: 'resp_1' } });
  const delta = frame('response.output_text.delta', { sequence_number: 1, delta: 'Hello there' });
  const completed = frame('response.completed', {
    sequence_number: 2,
    response: { id: 'resp_1', usage: { input_tokens: 7, output_tokens: 3 } },
  });

  it('relays events unchanged and reads the id, the text and the final usage', () => {
    const translator = new ResponseStreamTranslator();
    expect(translator.push(bytes(created + delta))).toBe(created + delta);
    expect(translator.responseId).toBe('resp_1');
    expect(translator.done).toBe(false);
    expect(translator.push(bytes(completed))).toBe(completed);
    expect(translator.done).toBe(true);
    expect(translator.usage).toEqual({
      promptTokens: 7,
      cachedTokens: 0,
      completionTokens: 3,
      reasoningTokens: 0,
    });
    expect(translator.completionChars).toBe('Hello there'.length);
    expect(() => translator.end()).not.toThrow();
  });

  it('reassembles events split across chunks, CRLF framing and multi-byte characters included', () => {
    const translator = new ResponseStreamTranslator();
    const text = frame('response.output_text.delta', { delta: 'Créac’h' }).replace(/\n/g, '\r\n');
    const raw = bytes(created.replace(/\n/g, '\r\n') + text);
    let out = '';
    for (let i = 0; i < raw.length; i += 3) out += translator.push(raw.subarray(i, i + 3));
    expect(out).toBe(created + frame('response.output_text.delta', { delta: 'Créac’h' }));
    expect(translator.completionChars).toBe('Créac’h'.length);
  });

  it.each([
    [
      'an error event',
      'event: error\ndata: {"type":"error","message":"boom"}\n\n',
      'upstream_error',
    ],
    ['malformed JSON', 'event: response.output_text.delta\ndata: {not json\n\n', 'malformed'],
    ['a non-object payload', 'data: [1,2]\n\n', 'malformed'],
  ])('refuses %s', (_name, event, reason) => {
    const translator = new ResponseStreamTranslator();
    expect(() => translator.push(bytes(created + event))).toThrow(
      new StreamFault(reason as 'malformed'),
    );
  });

  it('treats a body that ends before a terminal event as cut off', () => {
    const translator = new ResponseStreamTranslator();
    translator.push(bytes(created + delta));
    expect(() => translator.end()).toThrow(StreamFault);
  });

  it('ends with an error event numbered after the last one relayed', () => {
    const translator = new ResponseStreamTranslator();
    translator.push(bytes(created + delta));
    const error = translator.errorFrame('upstream_error', 'The upstream stream failed.');
    expect(error.startsWith('event: error\ndata: ')).toBe(true);
    expect(JSON.parse(error.split('data: ')[1])).toEqual({
      type: 'error',
      code: 'upstream_error',
      message: 'The upstream stream failed.',
      param: null,
      sequence_number: 2,
    });
  });

  it('refuses an event that grows past 1 MiB without a boundary', () => {
    const translator = new ResponseStreamTranslator();
    expect(() => translator.push(bytes(`data: ${'x'.repeat(1024 * 1024 + 1)}`))).toThrow(
      StreamFault,
    );
  });
});
