import { KeyObject, type webcrypto } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import type { TrustedIssuer } from '../config/auth.config';
import type { KeywardConfig } from '../config/configuration';
import type { Role } from '../database/schema';
import { audienceIncludes, isAccessTokenType, TokenRejected } from './access-token.service';
import { type Principal, scopesForRoles } from './principal';

const REMOTE_ALGORITHMS = new Set(['ES256', 'RS256']);

/**
 * Keys of external issuers (JWT_TRUSTED_ISSUERS): a shared HS256 secret, or a JWKS URI
 * named in configuration (never one named by a token: `jku` is refused earlier). jose
 * fetches and caches the remote key set, with a cooldown against refetch floods.
 *
 * An external token is held to the rules of Keyward's own (typ `at+jwt`, `jti`, `iat`) plus
 * the issuer's maximum lifetime, and is believed about roles only through the issuer's
 * explicit `roleClaim`/`roleMap`: a `roles` claim alone would make anyone who can mint for
 * that issuer (everyone holding a shared secret) an admin.
 */
@Injectable()
export class TrustedIssuersService {
  private readonly issuers: ReadonlyMap<string, TrustedIssuer>;
  private readonly keySets = new Map<string, JWTVerifyGetKey>();

  constructor(config: ConfigService<KeywardConfig, true>) {
    const { trustedIssuers } = config.get('auth', { infer: true });
    this.issuers = new Map(trustedIssuers.map((issuer) => [issuer.issuer, issuer]));
    for (const issuer of trustedIssuers) {
      if (issuer.jwksUri) {
        this.keySets.set(
          issuer.issuer,
          createRemoteJWKSet(new URL(issuer.jwksUri), {
            timeoutDuration: 3000,
            cooldownDuration: 30_000,
          }),
        );
      }
    }
  }

  find(issuer: unknown): TrustedIssuer | undefined {
    return typeof issuer === 'string' ? this.issuers.get(issuer) : undefined;
  }

  async verificationKey(
    issuer: TrustedIssuer,
    header: { alg: string; kid?: string; typ?: string },
  ): Promise<KeyObject> {
    if (!isAccessTokenType(header.typ)) throw new TokenRejected('typ is not at+jwt');
    if (issuer.secret) {
      if (header.alg !== 'HS256')
        throw new TokenRejected('unexpected alg for a shared-secret issuer');
      return issuer.secret;
    }
    if (!REMOTE_ALGORITHMS.has(header.alg))
      throw new TokenRejected('unexpected alg for a JWKS issuer');
    const getKey = this.keySets.get(issuer.issuer);
    if (!getKey) throw new TokenRejected('issuer has no key source');
    try {
      // The token argument only matters for embedded-key resolvers, which we never use.
      const key = await getKey(
        { alg: header.alg, kid: header.kid },
        { payload: '', signature: '' },
      );
      return key instanceof KeyObject ? key : KeyObject.from(key as webcrypto.CryptoKey);
    } catch {
      throw new TokenRejected('no matching key in the issuer key set');
    }
  }

  /** The principal of a signature-checked external token; throws TokenRejected. */
  principalFor(issuer: TrustedIssuer, payload: Record<string, unknown>): Principal {
    if (payload.iss !== issuer.issuer || !audienceIncludes(payload.aud, issuer.audience))
      throw new TokenRejected('iss or aud mismatch');
    if (typeof payload.jti !== 'string' || payload.jti.length === 0)
      throw new TokenRejected('jti missing');
    if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number')
      throw new TokenRejected('iat or exp missing');
    const now = Math.floor(Date.now() / 1000);
    const max = issuer.maxTokenLifetimeSeconds;
    // Both: a token claiming a recent iat cannot carry a far exp, nor an old iat hide it.
    if (payload.exp - payload.iat > max || payload.exp - now > max)
      throw new TokenRejected('lifetime over the issuer maximum');
    const sub = payload.sub as string;
    const mapped = this.mappedRoles(issuer, payload);
    const roles: Role[] = mapped.length ? mapped : ['user'];
    return {
      userId: `${issuer.issuer}#${sub}`,
      username: typeof payload.preferred_username === 'string' ? payload.preferred_username : sub,
      roles,
      // External principals never manage keys or sessions: their issuer does.
      scopes: scopesForRoles(roles).filter((scope) => scope !== 'keys'),
      authMethod: 'external',
      issuer: issuer.issuer,
    };
  }

  private mappedRoles(issuer: TrustedIssuer, payload: Record<string, unknown>): Role[] {
    if (!issuer.roleClaim || !issuer.roleMap) return [];
    const claim = payload[issuer.roleClaim];
    const values = typeof claim === 'string' ? [claim] : Array.isArray(claim) ? claim : [];
    const roles = new Set<Role>();
    for (const value of values) {
      if (typeof value === 'string' && Object.hasOwn(issuer.roleMap, value))
        roles.add(issuer.roleMap[value]);
    }
    return [...roles];
  }
}
