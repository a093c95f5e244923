import { createOpenAI } from '@ai-sdk/openai';
import {
  Agent,
  OpenAIChatCompletionsModel,
  OpenAIProvider,
  Runner,
  setTracingDisabled,
  tool,
} from '@openai/agents';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { z } from 'zod';
import { type ChatHarness, type ChatUser, startChatHarness } from './support/chat-harness';

/**
 * The client libraries people use, unchanged, pointed at Keyward with nothing but a base URL
 * and a `kw_` key: the Vercel AI SDK (`openai(model)` speaks the Responses API,
 * `openai.chat(model)` chat completions) and the OpenAI Agents SDK (Responses by default,
 * `OpenAIChatCompletionsModel` for chat completions). Every answer is tied to the mock's
 * record of the upstream call.
 */
describe('Client libraries on the Responses API and chat (Vercel AI SDK, OpenAI Agents SDK)', () => {
  let h: ChatHarness;
  let user: ChatUser;
  /** Every URL a library fetched during the test: tracing must not leave the machine. */
  const fetched: string[] = [];
  const realFetch = globalThis.fetch;

  beforeAll(async () => {
    h = await startChatHarness();
    user = await h.newUser({ chatRpm: 1000 });
    // The Agents SDK exports traces to OpenAI unless told not to.
    setTracingDisabled(true);
    globalThis.fetch = (input, init) => {
      fetched.push(input instanceof Request ? input.url : String(input));
      return realFetch(input, init);
    };
  }, 30_000);
  afterEach(() => {
    h.mock.reset();
    for (const url of fetched) expect(url.startsWith(h.baseURL)).toBe(true);
    fetched.length = 0;
  });
  afterAll(async () => {
    globalThis.fetch = realFetch;
    await h.close();
  }, 30_000);

  const upstream = (path: string) => h.mock.requests.filter((r) => r.path === path);

  const usageTotals = async () => (await h.usageToday(user)).totals;

  describe('Vercel AI SDK', () => {
    const provider = () => createOpenAI({ apiKey: user.apiKey, baseURL: h.baseURL });

    it('generateText with openai(model) goes through /v1/responses and reports usage', async () => {
      const before = await usageTotals();
      const result = await generateText({
        model: provider()('gpt-4o-mini'),
        prompt: 'Where is the lighthouse?',
      });
      expect(result.text).toBe('Mock reply to: Where is the lighthouse?');
      const [call] = upstream('/v1/responses');
      expect(call.body).toMatchObject({ model: 'gpt-4o-mini' });
      expect(upstream('/v1/chat/completions')).toEqual([]);
      expect(result.usage.inputTokens).toBeGreaterThan(0);
      expect(result.usage.outputTokens).toBe(Math.ceil(result.text.length / 4));
      const after = await usageTotals();
      expect(after.promptTokens - before.promptTokens).toBe(result.usage.inputTokens);
      expect(after.completionTokens - before.completionTokens).toBe(result.usage.outputTokens);
    });

    it('streamText with openai(model) streams Responses events and reports usage', async () => {
      const result = streamText({ model: provider()('gpt-4o'), prompt: 'Count the gulls' });
      let text = '';
      let parts = 0;
      let outputTokens: number | undefined;
      for await (const part of result.fullStream) {
        if (part.type === 'text-delta') {
          text += part.text;
          parts += 1;
        }
        if (part.type === 'error') throw new Error(JSON.stringify(part.error));
        if (part.type === 'finish') outputTokens = part.totalUsage.outputTokens;
      }
      expect(text).toBe('Mock reply to: Count the gulls');
      expect(parts).toBeGreaterThan(1);
      expect(outputTokens).toBe(Math.ceil(text.length / 4));
      expect(upstream('/v1/responses')[0].body).toMatchObject({ model: 'gpt-4o', stream: true });
    });

    it('generateText and streamText with openai.chat(model) go through /v1/chat/completions', async () => {
      const generated = await generateText({
        model: provider().chat('gpt-4o-mini'),
        prompt: 'Hello keeper',
      });
      expect(generated.text).toBe('Mock reply to: Hello keeper');
      expect(generated.usage.outputTokens).toBe(Math.ceil(generated.text.length / 4));
      const streamed = streamText({ model: provider().chat('gpt-4o-mini'), prompt: 'Hello again' });
      let text = '';
      let outputTokens: number | undefined;
      for await (const part of streamed.fullStream) {
        if (part.type === 'text-delta') text += part.text;
        if (part.type === 'error') throw new Error(JSON.stringify(part.error));
        if (part.type === 'finish') outputTokens = part.totalUsage.outputTokens;
      }
      expect(text).toBe('Mock reply to: Hello again');
      expect(outputTokens).toBe(Math.ceil(text.length / 4));
      expect(upstream('/v1/chat/completions')).toHaveLength(2);
      expect(upstream('/v1/responses')).toEqual([]);
    });
  });

  describe('OpenAI Agents SDK', () => {
    const findLighthouse = tool({
      name: 'find_lighthouse',
      description: 'Finds the lighthouse of a coast',
      parameters: z.object({ coast: z.string() }),
      execute: ({ coast }) => Promise.resolve(`Phare of ${coast}`),
    });

    it('runs a tool-using agent on its default model (Responses API)', async () => {
      const runner = new Runner({
        modelProvider: new OpenAIProvider({ apiKey: user.apiKey, baseURL: h.baseURL }),
        tracingDisabled: true,
      });
      const agent = new Agent({
        name: 'Keeper',
        instructions: 'Use the tool.',
        model: 'gpt-4o-mini',
        tools: [findLighthouse],
      });
      const result = await runner.run(agent, 'Brittany');
      // The mock called the tool with arguments from its schema; the agent ran it and sent
      // the output back; the mock's answer to that output is the final output.
      expect(result.finalOutput).toBe('Mock reply to tool output: Phare of Brittany');
      const calls = upstream('/v1/responses');
      expect(calls).toHaveLength(2);
      expect(calls[0].body).toMatchObject({
        model: 'gpt-4o-mini',
        instructions: 'Use the tool.',
        tools: [expect.objectContaining({ type: 'function', name: 'find_lighthouse' })],
      });
      expect(JSON.stringify(calls[1].body)).toContain('function_call_output');
    });

    it('runs the same agent on OpenAIChatCompletionsModel (chat completions)', async () => {
      const client = new OpenAI({ apiKey: user.apiKey, baseURL: h.baseURL });
      const agent = new Agent({
        name: 'Keeper',
        instructions: 'Use the tool.',
        model: new OpenAIChatCompletionsModel(client, 'gpt-4o-mini'),
        tools: [findLighthouse],
      });
      const result = await new Runner({ tracingDisabled: true }).run(agent, 'Brittany');
      const calls = upstream('/v1/chat/completions');
      expect(calls.length).toBeGreaterThan(0);
      const body = calls[0].body as { tools?: Array<{ function: { name: string } }> };
      expect(body.tools?.map((t) => t.function.name)).toEqual(['find_lighthouse']);
      expect(upstream('/v1/responses')).toEqual([]);
      // The chat mock called the tool; the agent ran it and sent the result back as a tool message.
      expect(result.finalOutput).toBe('Mock reply to tool result: Phare of Brittany');
      expect(calls).toHaveLength(2);
      expect(JSON.stringify(calls[1].body)).toContain('"role":"tool"');
    });
  });
});
