import type { FastifyRequest } from 'fastify';
import type { ErrorCode } from './domain-error';
import type { ErrorFormatRouteConfig } from './error-format.decorator';
import type { Problem } from './problem';

/** One wire format for errors; controllers pick theirs with `@UseErrorFormat()`. */
export interface ErrorFormat {
  readonly contentType: string;
  body(problem: Problem, requestId: string): unknown;
}

/** RFC 9457 problem details: the default, for `/api/...` and everything else. */
export const problemJson: ErrorFormat = {
  contentType: 'application/problem+json; charset=utf-8',
  body: (problem, requestId) => ({
    type: `urn:keyward:problem:${problem.code}`,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    ...(problem.errors?.length ? { errors: problem.errors } : {}),
    ...problem.extensions,
    requestId,
  }),
};

/** RFC 6749 §5.2 error codes for the token and revocation endpoints. */
function oauthError(code: ErrorCode): string {
  switch (code) {
    case 'invalid_grant':
    case 'invalid_credentials':
      return 'invalid_grant';
    case 'unsupported_grant_type':
      return 'unsupported_grant_type';
    case 'invalid_scope':
      return 'invalid_scope';
    case 'invalid_target':
      return 'invalid_target';
    case 'invalid_client':
    case 'unauthenticated':
    case 'invalid_token':
      return 'invalid_client';
    case 'too_many_attempts':
    case 'rate_limited':
      return 'too_many_attempts';
    case 'service_unavailable':
      return 'temporarily_unavailable';
    case 'internal':
      return 'server_error';
    default:
      return 'invalid_request';
  }
}

export const oauth2Json: ErrorFormat = {
  contentType: 'application/json; charset=utf-8',
  body: (problem) => ({ error: oauthError(problem.code), error_description: problem.detail }),
};

/** OpenAI's `{error: {message, type, param, code}}`, so the official SDKs raise their usual errors. */
function openAiType(problem: Problem): string {
  const { status } = problem;
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  // OpenAI's own 404s (unknown model, unknown URL) say invalid_request_error.
  if (status === 404) return 'invalid_request_error';
  if (status === 429) {
    return problem.openAiCode === 'insufficient_quota' ? 'insufficient_quota' : 'rate_limit_error';
  }
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** Where OpenAI has a code of its own that SDK users match on. */
const OPENAI_CODES: Partial<Record<ErrorCode, string>> = {
  rate_limited: 'rate_limit_exceeded',
  quota_exceeded: 'insufficient_quota',
};

export const openAiJson: ErrorFormat = {
  contentType: 'application/json; charset=utf-8',
  body: (problem) => ({
    error: {
      message: problem.detail,
      type: openAiType(problem),
      param: problem.param ?? problem.errors?.[0]?.field ?? null,
      code: problem.openAiCode ?? OPENAI_CODES[problem.code] ?? problem.code,
    },
  }),
};

export const ERROR_FORMATS = {
  problem: problemJson,
  /** RFC 6749 §5.2, for the OAuth2 endpoints (TokenController). */
  oauth2: oauth2Json,
  /** The OpenAI-compatible API (`/v1`), whose clients are OpenAI's SDKs. */
  openai: openAiJson,
} as const satisfies Record<string, ErrorFormat>;
export type ErrorFormatName = keyof typeof ERROR_FORMATS;

/** Where Keyward's OpenAI-compatible API is mounted. */
const OPENAI_COMPATIBLE_PREFIX = '/v1/';

/**
 * The format the matched route declared (`@UseErrorFormat()`). A request that matched no
 * route (an unknown path, a malformed URL) has no owner to ask: under the OpenAI-compatible
 * mount it gets OpenAI's format (an SDK calling an endpoint Keyward lacks raises its usual
 * NotFoundError), elsewhere problem+json.
 */
export function errorFormatFor(request: Pick<FastifyRequest, 'url' | 'routeOptions'>): ErrorFormat {
  const declared = (request.routeOptions?.config as ErrorFormatRouteConfig | undefined)
    ?.errorFormat;
  if (declared) return ERROR_FORMATS[declared];
  return request.url.startsWith(OPENAI_COMPATIBLE_PREFIX) ? openAiJson : problemJson;
}
