import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error';

export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly method: 'client_secret_basic' | 'client_secret_post';
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** As the body fields (TokenRequestDto): longer is not a Keyward client id or secret. */
const MAX_PART = 256;

/** RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding. */
function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw new DomainError('invalid_client', 'Malformed client credentials.', {
      headers: { 'WWW-Authenticate': 'Basic realm="keyward"' },
    });
  }
}

/**
 * The client credentials of a token or introspection request: `Authorization: Basic`
 * (client_secret_basic) or `client_id` + `client_secret` in the body (client_secret_post).
 * Undefined when the request has neither; more than one method is refused (RFC 6749 §2.3).
 * Hand-written: a dozen lines over the header, where a library would pull in an OAuth server.
 */
export function readClientCredentials(
  request: FastifyRequest,
  body: { client_id?: string; client_secret?: string },
): ClientCredentials | undefined {
  const header = request.headers.authorization;
  const basic = typeof header === 'string' && /^basic /i.test(header) ? header.slice(6).trim() : '';
  if (basic) {
    if (body.client_secret !== undefined) {
      throw new DomainError(
        'validation_failed',
        'Use one client authentication method: Authorization: Basic or client_secret in the body.',
      );
    }
    const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(basic)
      ? Buffer.from(basic, 'base64').toString('utf8')
      : '';
    const colon = decoded.indexOf(':');
    if (colon < 1 || CONTROL.test(decoded)) {
      throw new DomainError('invalid_client', 'Malformed client credentials.', {
        headers: { 'WWW-Authenticate': 'Basic realm="keyward"' },
      });
    }
    const clientId = formDecode(decoded.slice(0, colon));
    const clientSecret = formDecode(decoded.slice(colon + 1));
    // `%00` and friends decode to control characters: never let them reach a key or a log row.
    if (
      CONTROL.test(clientId) ||
      CONTROL.test(clientSecret) ||
      clientId.length > MAX_PART ||
      clientSecret.length > MAX_PART
    ) {
      throw new DomainError('invalid_client', 'Malformed client credentials.', {
        headers: { 'WWW-Authenticate': 'Basic realm="keyward"' },
      });
    }
    if (body.client_id !== undefined && body.client_id !== clientId) {
      throw new DomainError('validation_failed', 'client_id differs from the Basic credentials.');
    }
    return { clientId, clientSecret, method: 'client_secret_basic' };
  }
  if (body.client_id !== undefined && body.client_secret !== undefined) {
    return {
      clientId: body.client_id,
      clientSecret: body.client_secret,
      method: 'client_secret_post',
    };
  }
  return undefined;
}
