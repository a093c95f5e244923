import { HttpException } from '@nestjs/common';
import { DomainError, ERROR_CODES, type ErrorCode, type FieldError } from './domain-error';

/** A failure, resolved to what a client may see; rendered by one of the wire formats. */
export interface Problem {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly errors?: readonly FieldError[];
  readonly param?: string;
  readonly openAiCode?: string;
  readonly extensions?: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;
  /** Only for logging: the original error of an unexpected failure. */
  readonly cause?: unknown;
}

const STATUS_TO_CODE: Record<number, ErrorCode> = {
  400: 'validation_failed',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'rate_limited',
  502: 'upstream_error',
  503: 'service_unavailable',
  504: 'upstream_timeout',
};

/** Fastify's own errors (body parsing, limits) carry a `FST_*` code and a status. */
interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
}

/** Network errnos and PostgreSQL SQLSTATE classes that mean "the dependency is down". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);
const UNAVAILABLE_SQLSTATE = /^(08|57P0[123]|53300)/; // connection exception, admin shutdown, too many connections

/**
 * Whether an error (or anything in its cause chain) says the database or Redis is
 * unreachable: then the answer is 503, and the service recovers when the dependency does.
 */
export function isDependencyUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const { code, message, name } = current as {
      code?: unknown;
      message?: unknown;
      name?: unknown;
    };
    if (
      typeof code === 'string' &&
      (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))
    )
      return true;
    if (name === 'MaxRetriesPerRequestError') return true;
    if (
      typeof message === 'string' &&
      /Connection terminated|Connection is closed|connect ECONNREFUSED|timeout exceeded when trying to connect|enableOfflineQueue options is false/i.test(
        message,
      )
    ) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function isFastifyError(value: unknown): value is FastifyLikeError {
  const code = (value as FastifyLikeError | undefined)?.code;
  return typeof code === 'string' && code.startsWith('FST_');
}

function malformed(detail: string): Problem {
  return {
    ...fromStatus(400, detail),
    code: 'malformed_body',
    title: ERROR_CODES.malformed_body.title,
  };
}

/**
 * RFC 9110 `Retry-After` in whole seconds, and the `retry-after-ms` the OpenAI SDKs read
 * first (they sleep for it only when the answer does not also say `x-should-retry: false`).
 */
function retryAfter(seconds: number): Record<string, string> {
  return {
    'Retry-After': String(Math.max(1, Math.ceil(seconds))),
    'retry-after-ms': String(Math.max(1, Math.round(seconds * 1000))),
  };
}

function fromDomainError(error: DomainError): Problem {
  const { retryAfterSeconds, headers = {}, errors, param, openAiCode, extensions } = error.options;
  return {
    code: error.code,
    status: error.status,
    title: ERROR_CODES[error.code].title,
    detail: error.detail,
    errors,
    param,
    openAiCode,
    extensions,
    headers:
      retryAfterSeconds === undefined ? headers : { ...headers, ...retryAfter(retryAfterSeconds) },
  };
}

function fromStatus(status: number, detail: string | undefined, cause?: unknown): Problem {
  const code = STATUS_TO_CODE[status] ?? (status >= 500 ? 'internal' : 'validation_failed');
  return {
    code,
    status: code === 'internal' ? 500 : status,
    title: ERROR_CODES[code].title,
    detail: detail ?? ERROR_CODES[code].title,
    headers: {},
    cause,
  };
}

/**
 * Turns anything thrown into a `Problem` without leaking library text: only our own
 * domain messages and a fixed sentence per known framework error reach the client.
 */
export function toProblem(thrown: unknown): Problem {
  if (thrown instanceof DomainError) return fromDomainError(thrown);
  // Nest's Fastify adapter wraps Fastify's own errors in an HttpException; unwrap them.
  const error =
    thrown instanceof HttpException &&
    (isFastifyError(thrown.cause) || thrown.cause instanceof SyntaxError)
      ? thrown.cause
      : thrown;
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const detail =
      status === 404
        ? 'No such route or resource.'
        : status === 405
          ? 'This method is not allowed on this route.'
          : undefined;
    return fromStatus(status, detail, status >= 500 ? error : undefined);
  }
  const fastify = error as FastifyLikeError;
  if (isFastifyError(fastify)) {
    switch (fastify.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return fromStatus(413, 'The request body is larger than the limit.');
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return fastify.statusCode === 415
          ? fromStatus(415, 'This route accepts application/json bodies only.')
          : fromStatus(400, 'The request body does not match its Content-Length.');
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return malformed('The JSON body is empty.');
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        // Fastify reports a `__proto__` / `constructor.prototype` key the same way.
        return malformed('The request body is not valid JSON or contains a forbidden key.');
      default:
        break;
    }
  }
  if (error instanceof SyntaxError) {
    // secure-json-parse: invalid JSON, or a `__proto__` / `constructor.prototype` key.
    return malformed(
      /prototype|constructor/i.test(error.message)
        ? 'The request body contains a forbidden key (__proto__ or constructor).'
        : 'The request body is not valid JSON.',
    );
  }
  const status = typeof fastify?.statusCode === 'number' ? fastify.statusCode : 500;
  if (status >= 400 && status < 500) return fromStatus(status, undefined);
  if (isDependencyUnavailable(error)) {
    return {
      ...fromStatus(503, 'A backing service is unavailable; try again shortly.', error),
      headers: { 'Retry-After': '5' },
    };
  }
  return fromStatus(500, 'An unexpected error occurred.', error);
}
