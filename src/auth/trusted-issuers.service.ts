import { KeyObject, type webcrypto } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import type { TrustedIssuer } from '../config/auth.config';
import type { KeywardConfig } from '../config/configuration';
import { TokenRejected } from './access-token.service';

const REMOTE_ALGORITHMS = new Set(['ES256', 'RS256']);

/**
 * Keys of external issuers (JWT_TRUSTED_ISSUERS): a shared HS256 secret, or a JWKS URI
 * named in configuration (never one named by a token: `jku` is refused earlier). jose
 * fetches and caches the remote key set, with a cooldown against refetch floods.
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
    header: { alg: string; kid?: string },
  ): Promise<KeyObject> {
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
}
