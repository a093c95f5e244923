import { HttpException, NotFoundException } from '@nestjs/common';
import { DomainError } from './domain-error';
import { errorFormatFor, oauth2Json, openAiJson, problemJson } from './error-formats';
import { toProblem } from './problem';

describe(toProblem.name, () => {
  it('keeps domain details and turns retry hints into Retry-After', () => {
    const problem = toProblem(
      new DomainError('quota_exceeded', 'Daily budget used.', { retryAfterSeconds: 12.2 }),
    );
    expect(problem).toMatchObject({
      status: 429,
      detail: 'Daily budget used.',
      headers: { 'Retry-After': '13' },
    });
  });

  it('never passes library or unexpected error text to the client', () => {
    const problem = toProblem(
      new TypeError("Cannot read properties of undefined (reading 'password=hunter2')"),
    );
    expect(problem.status).toBe(500);
    expect(problem.detail).not.toMatch(/Cannot read|hunter2/);
    const down = toProblem(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2'));
    expect(down).toMatchObject({ status: 503, headers: { 'Retry-After': '5' } });
    expect(down.detail).not.toMatch(/ECONNREFUSED|hunter2/);
    expect(toProblem(new NotFoundException('Cannot GET /secret/path')).detail).not.toContain(
      '/secret/path',
    );
  });

  it('unwraps Fastify errors wrapped by Nest', () => {
    const fastify = Object.assign(new Error('x'), {
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      statusCode: 413,
      name: 'FastifyError',
    });
    expect(toProblem(new HttpException('x', 413, { cause: fastify })).code).toBe(
      'payload_too_large',
    );
  });
});

describe(errorFormatFor.name, () => {
  const matched = (url: string, config: object) =>
    errorFormatFor({ url, routeOptions: { config } } as never);
  const unmatched = (url: string) => errorFormatFor({ url, routeOptions: {} } as never);

  it('uses the format the matched route declared, whatever its path', () => {
    expect(matched('/api/v1/auth/token?x=1', { errorFormat: 'oauth2' })).toBe(oauth2Json);
    expect(matched('/v1/chat/completions', { errorFormat: 'openai' })).toBe(openAiJson);
    expect(matched('/api/v1/keys', { errorFormat: 'openai' })).toBe(openAiJson);
    expect(matched('/api/v1/keys', {})).toBe(problemJson);
  });

  it('answers a request no route matched by the API it aimed at', () => {
    expect(unmatched('/v1/no-such-endpoint')).toBe(openAiJson);
    expect(unmatched('/api/v1/nothing')).toBe(problemJson);
    expect(unmatched('/v10/x')).toBe(problemJson);
  });

  it('renders the OpenAI shape the SDKs parse', () => {
    const problem = toProblem(
      new DomainError('validation_failed', 'Unknown model.', { param: 'model' }),
    );
    expect(openAiJson.body(problem, 'r1')).toEqual({
      error: {
        message: 'Unknown model.',
        type: 'invalid_request_error',
        param: 'model',
        code: 'validation_failed',
      },
    });
  });
});
