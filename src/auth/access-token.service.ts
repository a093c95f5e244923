import { randomUUID, type KeyObject } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtService } from '@nestjs/jwt';
import { verify } from 'jsonwebtoken';
import type { AuthConfig } from '../config/auth.config';
import type { KeywardConfig } from '../config/configuration';
import type { Role } from '../database/schema';
import { scopesForRoles } from './principal';

/** docs/reference.md "Tokens": larger tokens are refused before any parsing. */
export const MAX_TOKEN_BYTES = 8 * 1024;

/** Header parameters that would make a verifier fetch or trust key material from the token. */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'x5t#S256'];

export interface AccessTokenClaims {
  iss: string;
  aud: string | string[];
  sub: string;
  iat: number;
  exp: number;
  nbf?: number;
  jti: string;
  sid: string;
  roles: Role[];
  scope: string;
  preferred_username: string;
  /** OIDC Core §2: when the user last signed in (password); unchanged by refreshes. */
  auth_time: number;
  /** RFC 9068 §2.2: the machine client a client_credentials token was issued to. */
  client_id?: string;
}

/** What a grant may change in the token it gets. */
export interface IssueOptions {
  /** RFC 8707 `resource`: one of JWT_RESOURCES, the token's only audience. */
  readonly audience?: string;
  /** The granted scopes, when narrower than the roles' (machine clients). */
  readonly scopes?: readonly string[];
  /** client_credentials: `client_id` (= `sub`). */
  readonly clientId?: string;
}

export interface IssuedAccessToken {
  readonly token: string;
  readonly expiresIn: number;
  readonly jti: string;
  /** The `scope` claim. */
  readonly scope: string;
}

/** Why a token was refused; logged, never sent to the client in detail. */
export class TokenRejected extends Error {}

interface InspectedHeader {
  readonly alg: string;
  readonly kid?: string;
  readonly typ?: string;
}

function decodeJson(segment: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) throw new TokenRejected('segment is not base64url');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new TokenRejected('segment is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TokenRejected('segment is not a JSON object');
  }
  return value as Record<string, unknown>;
}

/**
 * Checks a compact JWS before any signature work (RFC 8725 §3): size, shape, a JSON
 * header, and none of the header parameters that make verifiers misbehave. Returns the
 * header and the (unverified) payload so the caller can pick the issuer and key.
 */
export function inspectToken(token: string): {
  header: InspectedHeader;
  payload: Record<string, unknown>;
} {
  if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) throw new TokenRejected('token too large');
  const parts = token.split('.');
  if (parts.length !== 3 || parts[2].length === 0)
    throw new TokenRejected('not a signed compact JWS');
  const header = decodeJson(parts[0]);
  const payload = decodeJson(parts[1]);
  if (typeof header.alg !== 'string') throw new TokenRejected('alg missing');
  if (header.alg.toLowerCase() === 'none') throw new TokenRejected('alg none');
  for (const name of FORBIDDEN_HEADERS) {
    if (name in header) throw new TokenRejected(`${name} header present`);
  }
  // We implement no JWS extension, so any `crit` names one we do not understand (RFC 7515 §4.1.11).
  if ('crit' in header) throw new TokenRejected('crit header present');
  if ('b64' in header) throw new TokenRejected('b64 header present');
  if (header.kid !== undefined && typeof header.kid !== 'string')
    throw new TokenRejected('kid not a string');
  if (header.typ !== undefined && typeof header.typ !== 'string')
    throw new TokenRejected('typ not a string');
  return {
    header: { alg: header.alg, kid: header.kid, typ: header.typ },
    payload,
  };
}

export function audienceIncludes(aud: unknown, expected: string): boolean {
  return aud === expected || (Array.isArray(aud) && aud.includes(expected));
}

/** RFC 9068 §2.1: `at+jwt`, optionally with the `application/` prefix. */
export function isAccessTokenType(typ: string | undefined): boolean {
  return typeof typ === 'string' && ['at+jwt', 'application/at+jwt'].includes(typ.toLowerCase());
}

/** Issues Keyward's access tokens (RFC 9068 profile) with the first configured key. */
@Injectable()
export class AccessTokenService {
  private readonly auth: AuthConfig;

  constructor(
    private readonly jwt: JwtService,
    config: ConfigService<KeywardConfig, true>,
  ) {
    this.auth = config.get('auth', { infer: true });
  }

  get ttlSeconds(): number {
    return this.auth.accessTokenTtl;
  }

  /** The verification key for `kid`, only for Keyward's own configured algorithm. */
  verificationKey(header: InspectedHeader): KeyObject {
    if (header.alg !== this.auth.keys.algorithm) throw new TokenRejected('unexpected alg');
    if (!isAccessTokenType(header.typ)) throw new TokenRejected('typ is not at+jwt');
    const entry =
      header.kid === undefined ? undefined : this.auth.keys.verification.get(header.kid);
    if (!entry) throw new TokenRejected('unknown kid');
    return entry.key;
  }

  /**
   * The session id of one of our own valid access tokens, for RFC 7009 revocation; undefined
   * for anything else. Uses the same pre-checks as the guard.
   */
  sessionOf(token: string): string | undefined {
    const payload = this.verifyAnyAudience(token);
    return typeof payload?.sid === 'string' ? payload.sid : undefined;
  }

  /**
   * The claims of one of our own access tokens, valid now (30 s skew), for Keyward's audience
   * or any JWT_RESOURCES one; undefined for anything else. For revocation and introspection:
   * the guard never uses it (it accepts Keyward's own audience only).
   */
  verifyAnyAudience(token: string): Record<string, unknown> | undefined {
    try {
      const { header } = inspectToken(token);
      const audiences = [this.auth.audience, ...this.auth.resources] as [string, ...string[]];
      const payload = verify(token, this.verificationKey(header), {
        algorithms: [this.auth.keys.algorithm],
        issuer: this.auth.issuer,
        audience: audiences,
        clockTolerance: this.auth.clockToleranceSeconds,
      });
      return typeof payload === 'object' ? payload : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether `resource` names a configured service (RFC 8707); the token endpoint checks it. */
  isResource(resource: string): boolean {
    return this.auth.resources.includes(resource);
  }

  issue(
    user: { id: string; username: string; roles: readonly Role[] },
    sessionId: string,
    authTime: Date,
    options: IssueOptions = {},
  ): IssuedAccessToken {
    const jti = randomUUID();
    const { signing, algorithm } = this.auth.keys;
    const scope = (options.scopes ?? scopesForRoles(user.roles)).join(' ');
    const token = this.jwt.sign(
      {
        sid: sessionId,
        roles: [...user.roles],
        scope,
        // OIDC's standard claim name, so /me and logs need no database lookup.
        preferred_username: user.username,
        auth_time: Math.floor(authTime.getTime() / 1000),
        ...(options.clientId ? { client_id: options.clientId } : {}),
      },
      {
        algorithm,
        privateKey: signing.key,
        header: { alg: algorithm, typ: 'at+jwt', kid: signing.kid },
        expiresIn: this.auth.accessTokenTtl,
        issuer: this.auth.issuer,
        audience: options.audience ?? this.auth.audience,
        subject: user.id,
        jwtid: jti,
      },
    );
    return { token, expiresIn: this.auth.accessTokenTtl, jti, scope };
  }
}
