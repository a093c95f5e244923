import { Injectable } from '@nestjs/common';
import { isApiKeyToken } from './api-key-format';
import { AccessTokenService } from './access-token.service';
import { RevocationService } from './revocation.service';
import { SessionsRepository } from './sessions.repository';

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** RFC 7662 §2.2 response; only `active` when the token is not active. */
export interface IntrospectionResult {
  active: boolean;
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  iat?: number;
  jti?: string;
  scope?: string;
  client_id?: string;
  username?: string;
  token_type?: 'Bearer';
}

const INACTIVE: IntrospectionResult = { active: false };

/**
 * Token introspection (RFC 7662) for services that must see a logout before `exp`: a Keyward
 * access token, for Keyward's audience or a JWT_RESOURCES one, is active while it verifies
 * and its session is neither revoked nor its user disabled. Anything else (expired,
 * revoked, another issuer's, an API key, garbage) is `{active: false}`, with no reason
 * (RFC 7662 §2.2).
 */
@Injectable()
export class IntrospectionService {
  constructor(
    private readonly accessTokens: AccessTokenService,
    private readonly revocation: RevocationService,
    private readonly sessions: SessionsRepository,
  ) {}

  async introspect(token: string): Promise<IntrospectionResult> {
    if (isApiKeyToken(token)) return INACTIVE;
    const claims = this.accessTokens.verifyAnyAudience(token);
    if (!claims) return INACTIVE;
    const { sid, sub } = claims;
    if (typeof sid !== 'string' || !SESSION_ID.test(sid) || typeof sub !== 'string')
      return INACTIVE;
    if (this.revocation.isRevoked(sid)) return INACTIVE;
    // The database is the authority here (not only this instance's revocation set).
    const owner = await this.sessions.findOwner(sid);
    if (!owner || owner.revoked || owner.disabled || owner.userId !== sub) return INACTIVE;
    return {
      active: true,
      iss: claims.iss as string,
      sub,
      aud: claims.aud as string | string[],
      exp: claims.exp as number,
      iat: claims.iat as number,
      jti: claims.jti as string,
      scope: typeof claims.scope === 'string' ? claims.scope : '',
      ...(typeof claims.client_id === 'string' ? { client_id: claims.client_id } : {}),
      ...(typeof claims.preferred_username === 'string'
        ? { username: claims.preferred_username }
        : {}),
      token_type: 'Bearer',
    };
  }
}
