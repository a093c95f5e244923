/**
 * Every failure a service can report, by meaning. Services throw `DomainError`s; the
 * exception filter alone decides the HTTP status and the wire format (problem+json,
 * OAuth2 or OpenAI) from this code.
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, title: 'Invalid request' },
  malformed_body: { status: 400, title: 'Malformed request body' },
  unsupported_grant_type: { status: 400, title: 'Unsupported grant type' },
  invalid_grant: { status: 400, title: 'Invalid grant' },
  /** RFC 6749 §5.2: a scope the client may not have. */
  invalid_scope: { status: 400, title: 'Invalid scope' },
  /** RFC 8707 §2: a `resource` Keyward does not issue tokens for. */
  invalid_target: { status: 400, title: 'Invalid target' },
  /** RFC 6749 §5.2: client authentication failed (machine clients). */
  invalid_client: { status: 401, title: 'Client authentication failed' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  invalid_token: { status: 401, title: 'Invalid token' },
  invalid_credentials: { status: 401, title: 'Invalid username or password' },
  forbidden: { status: 403, title: 'Forbidden' },
  csrf_failed: { status: 403, title: 'CSRF check failed' },
  insufficient_scope: { status: 403, title: 'Insufficient scope' },
  recent_sign_in_required: { status: 403, title: 'Recent sign-in required' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  unprocessable: { status: 422, title: 'Unprocessable request' },
  too_many_attempts: { status: 429, title: 'Too many attempts' },
  rate_limited: { status: 429, title: 'Too many requests' },
  quota_exceeded: { status: 429, title: 'Quota exceeded' },
  internal: { status: 500, title: 'Internal server error' },
  upstream_error: { status: 502, title: 'Upstream error' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  upstream_timeout: { status: 504, title: 'Upstream timeout' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export interface DomainErrorOptions {
  /** Per-field problems, for validation errors. */
  readonly errors?: readonly FieldError[];
  /** Seconds until a retry may succeed: becomes `Retry-After`. */
  readonly retryAfterSeconds?: number;
  /** Extra response headers decided by the domain (e.g. `WWW-Authenticate` parameters). */
  readonly headers?: Readonly<Record<string, string>>;
  /** For `/v1` errors: the request parameter (or limit, e.g. `user.rpm`) at fault. */
  readonly param?: string;
  /** For `/v1` errors: OpenAI's `error.code` when it is more precise than ours (`model_not_found`). */
  readonly openAiCode?: string;
  /** RFC 9457 extension members added to problem+json bodies. */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    /** Safe for clients: never holds secrets, upstream text or stack traces. */
    readonly detail: string,
    readonly options: DomainErrorOptions = {},
  ) {
    super(detail);
    this.name = 'DomainError';
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}
