import type { FastifyRequest } from 'fastify';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/** A credential kind decides which strategy reads it. */
export type CredentialKind = 'jwt' | 'api_key';

/**
 * The Bearer token of the Authorization header (RFC 6750 §2.1), only if it is of the asked
 * kind: `kw_...` is an API key, anything else a JWT. Never from the query string or body.
 */
export function bearerToken(request: FastifyRequest, kind: CredentialKind): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = BEARER.exec(header);
  if (!match) return null;
  const isKey = match[1].startsWith('kw_');
  return (kind === 'api_key') === isKey ? match[1] : null;
}
