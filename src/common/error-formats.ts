import type { ErrorCode } from './domain-error';
import type { Problem } from './problem';

/** One wire format for errors, chosen by the request path. */
export interface ErrorFormat {
  readonly contentType: string;
  body(problem: Problem, requestId: string): unknown;
}

/** RFC 9457 problem details: `/api/...` and everything else. */
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

const OAUTH2_PATHS = new Set(['/api/v1/auth/token', '/api/v1/auth/revoke']);

/** docs/reference.md "Error formats": the path decides the format. */
export function errorFormatFor(url: string): ErrorFormat {
  const path = url.split('?', 1)[0];
  if (path.startsWith('/v1/')) return openAiJson;
  if (OAUTH2_PATHS.has(path)) return oauth2Json;
  return problemJson;
}
