import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import OpenAI from 'openai';
import type {
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { z } from 'zod';
import type { RecordedRequest } from '../tools/mock-openai/mock-openai';
import {
  type ChatHarness,
  type ChatUser,
  MOCK_KEY,
  startChatHarness,
} from './support/chat-harness';

/**
 * The client libraries people use, unchanged, pointed at Keyward with nothing but a base URL
 * and a `kw_` key (docs/chat.md, "Client setup"). Each answer is tied to the mock's record
 * of the upstream call it caused: what the library sent is what upstream got, under the
 * server's key, and what upstream answered is what the library returned.
 */
describe('Client libraries through Keyward (chat completions)', () => {
  let h: ChatHarness;
  let user: ChatUser;

  beforeAll(async () => {
    h = await startChatHarness();
    user = await h.newUser({ chatRpm: 1000 });
  }, 30_000);
  afterEach(() => h.mock.reset());
  afterAll(() => h.close(), 30_000);

  /** The upstream chat calls, each checked to carry the server's key and never the user's. */
  function upstreamChats(): RecordedRequest[] {
    const calls = h.mock.requests.filter((r) => r.path === '/v1/chat/completions');
    for (const call of calls) {
      expect(call.headers.authorization).toBe(`Bearer ${MOCK_KEY}`);
      expect(JSON.stringify(call)).not.toContain(user.apiKey);
    }
    return calls;
  }
  // The recorded body is whatever JSON upstream got; tests read into it freely.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const bodyOf = (call: RecordedRequest) => call.body as Record<string, any>;

  describe('openai (official SDK)', () => {
    let client: OpenAI;
    beforeAll(() => {
      client = new OpenAI({ apiKey: user.apiKey, baseURL: h.baseURL });
    });

    const weather: ChatCompletionTool = {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Current weather in a city',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' }, days: { type: 'integer' } },
          required: ['city', 'days'],
          additionalProperties: false,
        },
        strict: true,
      },
    };

    it('chats', async () => {
      const completion = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'developer', content: 'Be brief.' },
          { role: 'user', content: 'Name a lighthouse' },
        ],
        reasoning_effort: 'low',
        metadata: { feature: 'lighthouses' },
      });
      expect(completion.choices[0].message.content).toBe('Mock reply to: Name a lighthouse');
      const [call] = upstreamChats();
      expect(bodyOf(call)).toMatchObject({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'developer', content: 'Be brief.' },
          { role: 'user', content: 'Name a lighthouse' },
        ],
        reasoning_effort: 'low',
        metadata: { feature: 'lighthouses' },
      });
      expect(completion.usage?.prompt_tokens).toBe(16); // the mock's count of that body
    });

    it('streams', async () => {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Tell me about the Eddystone light' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        usage = chunk.usage ?? usage;
      }
      expect(text).toBe('Mock reply to: Tell me about the Eddystone light');
      const [call] = upstreamChats();
      expect(bodyOf(call)).toMatchObject({ model: 'gpt-4o', stream: true });
      expect(usage?.completion_tokens).toBe(Math.ceil(text.length / 4));
    });

    it('runs a full tool loop, pushing the returned message back unchanged', async () => {
      const messages: ChatCompletionMessageParam[] = [
        { role: 'user', content: 'Weather in Brest?' },
      ];
      const first = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        tools: [weather],
        parallel_tool_calls: false,
      });
      const returned = first.choices[0].message;
      // Exactly as the API returns it: refusal null, annotations [], content null.
      expect(returned).toMatchObject({ content: null, refusal: null, annotations: [] });
      messages.push(returned);
      const call = returned.tool_calls?.[0];
      if (call?.type !== 'function') throw new Error('expected a function tool call');
      const args = JSON.parse(call.function.arguments) as { city: string; days: number };
      messages.push({ role: 'tool', tool_call_id: call.id, content: `Rain in ${args.city}` });
      const second = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        tools: [weather],
      });
      expect(second.choices[0].message.content).toBe(
        'Mock reply to tool result: Rain in Weather in Brest?',
      );
      const [up1, up2] = upstreamChats();
      expect(bodyOf(up1)).toMatchObject({ tools: [weather], parallel_tool_calls: false });
      // Upstream got the assistant turn back, minus what only responses carry.
      expect(bodyOf(up2).messages[1]).toEqual({
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [call],
      });
      expect(bodyOf(up2).messages[2]).toEqual(messages[2]);
    });

    it('runs the tool loop over a stream with the SDK’s stream helper', async () => {
      const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Oslo' }];
      const runner = client.chat.completions.stream({
        model: 'gpt-4o-mini',
        messages,
        tools: [weather],
      });
      const final = await runner.finalChatCompletion();
      const returned = final.choices[0].message;
      const call = returned.tool_calls?.[0];
      if (call?.type !== 'function') throw new Error('expected a function tool call');
      expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Oslo', days: 42 });
      messages.push(returned, { role: 'tool', tool_call_id: call.id, content: 'Snow' });
      const second = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
      expect(second.choices[0].message.content).toBe('Mock reply to tool result: Snow');
      const [up1, up2] = upstreamChats();
      expect(bodyOf(up1).stream).toBe(true);
      // The helper adds parsed_arguments to strict tools' calls; upstream never sees it.
      expect(call.function).toHaveProperty('parsed_arguments', { city: 'Oslo', days: 42 });
      expect(bodyOf(up2).messages[1].tool_calls).toEqual([
        {
          id: call.id,
          type: 'function',
          function: { name: 'get_weather', arguments: call.function.arguments },
        },
      ]);
    });

    it('sends vision parts', async () => {
      const png =
        'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
      const completion = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in this picture?' },
              { type: 'image_url', image_url: { url: png, detail: 'low' } },
            ],
          },
        ],
      });
      expect(completion.choices[0].message.content).toBe(
        'Mock reply to: What is in this picture? [1 image]',
      );
      const [call] = upstreamChats();
      expect(bodyOf(call).messages[0].content[1]).toEqual({
        type: 'image_url',
        image_url: { url: png, detail: 'low' },
      });
    });

    it('gets a json_schema answer, and takes the parsed message back', async () => {
      const format = {
        type: 'json_schema' as const,
        json_schema: {
          name: 'lighthouse',
          strict: true,
          schema: {
            type: 'object',
            properties: { name: { type: 'string' }, height: { type: 'number' } },
            required: ['name', 'height'],
            additionalProperties: false,
          },
        },
      };
      const completion = await client.chat.completions.parse({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Describe Fastnet' }],
        response_format: format,
      });
      const message = completion.choices[0].message;
      expect(message.parsed).toEqual({ name: 'Mock reply to: Describe Fastnet', height: 42 });
      const next = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'user', content: 'Describe Fastnet' },
          message,
          { role: 'user', content: 'And Bishop Rock?' },
        ],
      });
      expect(next.choices[0].message.content).toBe('Mock reply to: And Bishop Rock?');
      const [up1, up2] = upstreamChats();
      expect(bodyOf(up1).response_format).toEqual(format);
      expect(bodyOf(up2).messages[1]).toEqual({
        role: 'assistant',
        content: message.content,
        refusal: null,
      });
    });
  });

  describe('@langchain/openai ChatOpenAI', () => {
    let model: ChatOpenAI;
    beforeAll(() => {
      model = new ChatOpenAI({
        model: 'gpt-4o-mini',
        apiKey: user.apiKey,
        configuration: { baseURL: h.baseURL },
      });
    });

    it('invokes', async () => {
      const answer = await model.invoke('Hello from LangChain');
      expect(answer.content).toBe('Mock reply to: Hello from LangChain');
      const [call] = upstreamChats();
      expect(bodyOf(call).messages).toEqual([{ role: 'user', content: 'Hello from LangChain' }]);
      expect(answer.usage_metadata).toMatchObject({ input_tokens: 9, output_tokens: 9 });
    });

    it('streams', async () => {
      let text = '';
      let chunks = 0;
      for await (const chunk of await model.stream('Stream me a story')) {
        text += typeof chunk.content === 'string' ? chunk.content : '';
        chunks += 1;
      }
      expect(text).toBe('Mock reply to: Stream me a story');
      expect(chunks).toBeGreaterThan(2);
      const [call] = upstreamChats();
      expect(bodyOf(call).stream).toBe(true);
    });

    it('binds tools and completes the loop', async () => {
      const lookup = tool(({ city }: { city: string }) => `Fog in ${city}`, {
        name: 'lookup_weather',
        description: 'Weather in a city',
        schema: z.object({ city: z.string() }),
      });
      const withTools = model.bindTools([lookup]);
      const question = new HumanMessage('Weather in Cork?');
      const first = (await withTools.invoke([question])) as AIMessage;
      expect(first.tool_calls).toHaveLength(1);
      const call = first.tool_calls![0];
      expect(call).toMatchObject({ name: 'lookup_weather', args: { city: 'Weather in Cork?' } });
      const result = new ToolMessage({
        tool_call_id: call.id!,
        content: await lookup.invoke(call.args as { city: string }),
      });
      const second = await withTools.invoke([question, first, result]);
      expect(second.content).toBe('Mock reply to tool result: Fog in Weather in Cork?');
      const [up1, up2] = upstreamChats();
      expect(bodyOf(up1).tools[0].function.name).toBe('lookup_weather');
      expect(bodyOf(up2).messages[1].tool_calls[0].id).toBe(call.id);
      expect(bodyOf(up2).messages[2]).toMatchObject({ role: 'tool', tool_call_id: call.id });
    });
  });
});
