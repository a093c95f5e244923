import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
} from 'openai/core/error';
import { DomainError } from '../common/domain-error';

/** Cap on a relayed wait: an upstream asking for hours would only stall clients. */
const MAX_RETRY_AFTER_SECONDS = 60;

/** One of OpenAI's `x-ratelimit-reset-*` durations (`1s`, `6m0s`, `20ms`) in seconds. */
export function parseResetDuration(raw: string | null | undefined): number {
  if (!raw || !/^(\d+(\.\d+)?(ms|h|m|s))+$/.test(raw.trim())) return Number.NaN;
  const unit = { h: 3600, m: 60, s: 1, ms: 0.001 } as const;
  let seconds = 0;
  for (const [, amount, name] of raw.trim().matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    seconds += Number(amount) * unit[name as keyof typeof unit];
  }
  return seconds;
}

/**
 * Our own Retry-After, derived from (never copied from) the upstream's headers: its
 * `retry-after`, else the longest `x-ratelimit-reset-*` it sent, else a second.
 */
function retryAfterSeconds(error: APIError): number {
  const raw = error.headers?.get('retry-after');
  let seconds = raw === null || raw === undefined ? Number.NaN : Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    seconds = Math.max(
      parseResetDuration(error.headers?.get('x-ratelimit-reset-requests')) || 0,
      parseResetDuration(error.headers?.get('x-ratelimit-reset-tokens')) || 0,
    );
  }
  if (!Number.isFinite(seconds) || seconds <= 0) return 1;
  return Math.min(seconds, MAX_RETRY_AFTER_SECONDS);
}

/**
 * docs/reference.md "Chat", upstream faults → clear errors without upstream details: no upstream
 * body, message or header reaches the client (an upstream 401 message quotes part of the key). A
 * bad server key is our fault, not the client's: 502, never 401.
 */
export function mapUpstreamError(
  error: unknown,
  why: { readonly deadlineExpired: boolean; readonly clientAborted: boolean },
): DomainError {
  if (error instanceof DomainError) return error;
  if (why.deadlineExpired || error instanceof APIConnectionTimeoutError) {
    return new DomainError('upstream_timeout', 'The upstream model did not answer in time.');
  }
  if (why.clientAborted || error instanceof APIUserAbortError) {
    return new DomainError(
      'upstream_error',
      'The request was cancelled before the upstream answered.',
    );
  }
  if (error instanceof AuthenticationError || error instanceof PermissionDeniedError) {
    return new DomainError(
      'upstream_error',
      'The upstream refused the server’s credentials; the operator has to fix the OpenAI key.',
    );
  }
  if (error instanceof RateLimitError && error.code === 'insufficient_quota') {
    // The server's OpenAI account is out of credit: retrying cannot help, so the SDKs must
    // raise at once (x-should-retry), as they would talking to OpenAI directly.
    return new DomainError(
      'quota_exceeded',
      'The server’s OpenAI account has run out of quota; the operator has to fix it.',
      { headers: { 'x-should-retry': 'false' }, openAiCode: 'insufficient_quota' },
    );
  }
  if (error instanceof RateLimitError) {
    return new DomainError(
      'rate_limited',
      'The upstream is rate limiting this server; retry later.',
      {
        retryAfterSeconds: retryAfterSeconds(error),
        openAiCode: 'rate_limit_exceeded',
      },
    );
  }
  if (error instanceof BadRequestError || error instanceof UnprocessableEntityError) {
    // The request passed our checks but not OpenAI's (a tool schema, a parameter the model
    // does not support): the client can fix it; the upstream wording stays private.
    return new DomainError(
      'validation_failed',
      'The upstream model refused the request parameters.',
    );
  }
  if (error instanceof NotFoundError) {
    // An object upstream no longer has (a response deleted or expired there, a model it
    // does not serve): the client's request names it, so 404 like OpenAI, without its text.
    return new DomainError('not_found', 'The upstream has no such object.');
  }
  if (error instanceof APIConnectionError) {
    return new DomainError(
      'upstream_error',
      'The upstream could not be reached or closed the connection.',
    );
  }
  if (error instanceof APIError) {
    return new DomainError('upstream_error', 'The upstream failed to answer the request.');
  }
  return new DomainError('upstream_error', 'The upstream sent an invalid response.');
}

/** What the log may say about an upstream failure: its kind and status, never its text. */
export function describeUpstreamError(error: unknown): Record<string, unknown> {
  if (error instanceof APIError) {
    return {
      kind: error.constructor.name,
      status: error.status ?? null,
      code: typeof error.code === 'string' ? error.code : null,
    };
  }
  if (error instanceof Error) return { kind: error.name };
  return { kind: typeof error };
}
