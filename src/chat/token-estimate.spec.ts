import {
  estimatePromptTokens,
  estimateTextTokens,
  inputChars,
  promptTokenCeiling,
} from './token-estimate';

describe('token estimates', () => {
  it('bounds prompt tokens by UTF-8 bytes plus framing', () => {
    expect(promptTokenCeiling({ messages: [{ content: 'hi' }] })).toBe(3 + 4 + 2);
    // "é" is 2 bytes, "漢" 3: a byte-level BPE token covers at least one byte.
    expect(promptTokenCeiling({ messages: [{ content: 'é漢' }] })).toBe(3 + 4 + 5);
  });

  it('counts names, tool calls and tools in the ceiling (images are the image policy’s)', () => {
    const toolCalls = [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }];
    const tools = [{ type: 'function', function: { name: 'f' } }];
    const ceiling = promptTokenCeiling({
      messages: [
        {
          content: [
            { type: 'text', text: 'look' },
            { type: 'image_url', image_url: { url: 'https://x' } },
          ],
          name: 'bob',
        },
        { content: null, tool_calls: toolCalls },
      ],
      tools,
    });
    const expected =
      3 + 4 + 4 + 3 + 4 + JSON.stringify(toolCalls).length + JSON.stringify(tools).length + 32;
    expect(ceiling).toBe(expected);
  });

  it('counts realistic prompt tokens with a BPE tokenizer', () => {
    // cl100k_base: "Say| hello| to| the| l|ighthouse| keeper" is 7 tokens.
    expect(
      estimatePromptTokens({ messages: [{ content: 'Say hello to the lighthouse keeper' }] }),
    ).toBe(3 + 4 + 7);
  });

  it('does not under-count Japanese or Chinese text (characters/4 was ~4× low)', () => {
    const japanese = '東京は日本の首都であり、多くの人が住んでいます。';
    const chinese = '北京是中华人民共和国的首都，也是全国的政治和文化中心。';
    for (const text of [japanese, chinese]) {
      // o200k_base (gpt-4o) needs at least ~0.7 tokens a character on such text.
      expect(estimateTextTokens(text)).toBeGreaterThanOrEqual(Math.ceil(text.length * 0.7));
      expect(estimateTextTokens(text)).toBeGreaterThan(Math.ceil(text.length / 4) * 2);
    }
  });

  it('counts a random-looking string token by token, not four characters a token', () => {
    expect(estimateTextTokens('x9$kQz#1pW')).toBeGreaterThanOrEqual(8);
    expect(estimateTextTokens('')).toBe(0);
  });

  it('counts input characters for CHAT_MAX_INPUT_CHARS', () => {
    expect(
      inputChars({ messages: [{ content: 'abc' }, { content: [{ type: 'text', text: 'de' }] }] }),
    ).toBe(5);
  });
});
