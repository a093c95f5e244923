import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { expectedEmbedding } from '../tools/mock-openai/embeddings';
import { type MockOpenAI, startMockOpenAI } from '../tools/mock-openai/mock-openai';

/** The mock's Responses and embeddings routes, straight through the official SDK. */
describe('Mock OpenAI: Responses API and embeddings', () => {
  let mock: MockOpenAI;
  let client: OpenAI;

  beforeAll(async () => {
    mock = await startMockOpenAI({ apiKey: 'sk-mock-test' });
    client = new OpenAI({ apiKey: 'sk-mock-test', baseURL: mock.url, maxRetries: 0 });
  });
  afterEach(() => mock.reset());
  afterAll(() => mock.close());

  it('answers a response object with usage, stores it and serves it back until deleted', async () => {
    const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'ahoy' });
    expect(response.output_text).toBe('Mock reply to: ahoy');
    expect(response.usage).toMatchObject({ input_tokens: 5, output_tokens: 5, total_tokens: 10 });
    expect((await client.responses.retrieve(response.id)).id).toBe(response.id);
    await client.responses.delete(response.id);
    await expect(client.responses.retrieve(response.id)).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });

  it('bills a follow-up the earlier context and refuses an unknown previous_response_id', async () => {
    const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'ahoy' });
    const second = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'again',
      previous_response_id: first.id,
    });
    expect(second.usage?.input_tokens).toBe(10 + 6);
    const error = await client.responses
      .create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: 'resp_nope' })
      .then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error?.param).toBe('previous_response_id');
  });

  it('refuses max_output_tokens below 16, as OpenAI does', async () => {
    await expect(
      client.responses.create({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 15 }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('streams text events and a function call filled from the tool schema', async () => {
    const events: ResponseStreamEvent[] = [];
    for await (const event of await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'Oslo',
      stream: true,
      tools: [
        {
          type: 'function',
          name: 'weather',
          strict: true,
          parameters: {
            type: 'object',
            properties: { city: { type: 'string' }, days: { type: 'integer' } },
            required: ['city', 'days'],
            additionalProperties: false,
          },
        },
      ],
    }))
      events.push(event);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const done = events.find((e) => e.type === 'response.function_call_arguments.done');
    expect(done && 'arguments' in done ? JSON.parse(done.arguments) : null).toEqual({
      city: 'Oslo',
      days: 1,
    });
    expect(events.at(-1)?.type).toBe('response.completed');
  });

  it('breaks a Responses stream on the fault modes', async () => {
    mock.setFault('malformed_sse');
    const stream = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'x',
      stream: true,
    });
    await expect(
      (async () => {
        for await (const event of stream) expect(event).toBeDefined();
      })(),
    ).rejects.toThrow();
    mock.setFault('rate_limit');
    await expect(
      client.responses.create({ model: 'gpt-4o-mini', input: 'x' }),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });

  it('serves embeddings as float or base64 and refuses empty input', async () => {
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'sea',
      encoding_format: 'float',
    });
    expect(floats.data[0].embedding).toEqual(expectedEmbedding('sea'));
    expect(floats.data[0].embedding).toHaveLength(1536);
    expect(Math.hypot(...floats.data[0].embedding)).toBeCloseTo(1, 5);
    // The SDK asks for base64 by default and decodes it.
    const decoded = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'sea',
    });
    expect(mock.requests.at(-1)?.body).toMatchObject({ encoding_format: 'base64' });
    expect(decoded.data[0].embedding).toEqual(expectedEmbedding('sea').map((v) => Math.fround(v)));
    await expect(
      client.embeddings.create({ model: 'text-embedding-3-small', input: '' }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});
