import { RateLimitError } from 'openai';
import { mapUpstreamError, parseResetDuration } from './upstream-errors';

const why = { deadlineExpired: false, clientAborted: false };

function rateLimit(code: string, headers: Record<string, string>) {
  return new RateLimitError(
    429,
    { message: 'upstream words', type: code, param: null, code },
    'upstream words',
    new Headers(headers),
  );
}

describe('mapUpstreamError', () => {
  it.each([
    ['1s', 1],
    ['6m0s', 360],
    ['20ms', 0.02],
    ['1h2m3.5s', 3723.5],
  ])('reads the reset duration %s', (raw, seconds) => {
    expect(parseResetDuration(raw)).toBeCloseTo(seconds, 6);
  });

  it.each(['', 'soon', '5', '1d', '1s; rm -rf', null, undefined])(
    'ignores a reset duration it cannot read: %p',
    (raw) => {
      expect(parseResetDuration(raw)).toBeNaN();
    },
  );

  it('makes an upstream insufficient_quota a 429 that SDKs must not retry', () => {
    const error = mapUpstreamError(rateLimit('insufficient_quota', { 'retry-after': '20' }), why);
    expect(error.code).toBe('quota_exceeded');
    expect(error.options).toMatchObject({
      openAiCode: 'insufficient_quota',
      headers: { 'x-should-retry': 'false' },
    });
    expect(error.options.retryAfterSeconds).toBeUndefined();
    expect(error.detail).not.toContain('upstream words');
  });

  it.each([
    [{ 'retry-after': '7' }, 7],
    [{ 'x-ratelimit-reset-requests': '20ms', 'x-ratelimit-reset-tokens': '3s' }, 3],
    [{ 'x-ratelimit-reset-tokens': '6m0s' }, 60],
    [{ 'retry-after': 'tomorrow' }, 1],
    [{}, 1],
  ])('derives our Retry-After from %p: %d s', (headers, seconds) => {
    const error = mapUpstreamError(rateLimit('rate_limit_exceeded', headers), why);
    expect(error.code).toBe('rate_limited');
    expect(error.options.retryAfterSeconds).toBeCloseTo(seconds, 6);
    expect(error.options.headers).toBeUndefined();
  });
});
