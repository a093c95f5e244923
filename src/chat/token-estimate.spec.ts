import {
  estimatePromptTokens,
  IMAGE_TOKEN_CEILING,
  inputChars,
  promptTokenCeiling,
} from './token-estimate';

describe('token estimates', () => {
  it('bounds prompt tokens by UTF-8 bytes plus framing', () => {
    expect(promptTokenCeiling({ messages: [{ content: 'hi' }] })).toBe(3 + 4 + 2);
    // "é" is 2 bytes, "漢" 3: a byte-level BPE token covers at least one byte.
    expect(promptTokenCeiling({ messages: [{ content: 'é漢' }] })).toBe(3 + 4 + 5);
  });

  it('counts names, tool calls, tools and images in the ceiling', () => {
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
      3 +
      4 +
      4 +
      3 +
      IMAGE_TOKEN_CEILING +
      4 +
      JSON.stringify(toolCalls).length +
      JSON.stringify(tools).length +
      32;
    expect(ceiling).toBe(expected);
  });

  it('estimates realistic prompt tokens at four characters a token', () => {
    expect(
      estimatePromptTokens({ messages: [{ content: 'Say hello to the lighthouse keeper' }] }),
    ).toBe(9 + 4);
  });

  it('counts input characters for CHAT_MAX_INPUT_CHARS', () => {
    expect(
      inputChars({ messages: [{ content: 'abc' }, { content: [{ type: 'text', text: 'de' }] }] }),
    ).toBe(5);
  });
});
