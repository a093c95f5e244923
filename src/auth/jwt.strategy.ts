import type { KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import passport from 'passport';
import { Strategy, type StrategyOptionsWithRequest } from 'passport-jwt';
import type { AuthConfig, TrustedIssuer } from '../config/auth.config';
import { isDependencyUnavailable } from '../common/problem';
import type { KeywardConfig } from '../config/configuration';
import { ROLES, type Role } from '../database/schema';
import { CookieService } from '../cookies/cookie.service';
import {
  AccessTokenService,
  audienceIncludes,
  inspectToken,
  TokenRejected,
} from './access-token.service';
import { bearerToken } from './credentials';
import { PASSPORT_NAMES, type PassportNames } from './passport-names.module';
import { type Principal, type Scope, scopesForRoles } from './principal';
import { RevocationService } from './revocation.service';
import { SessionsRepository } from './sessions.repository';
import { TrustedIssuersService } from './trusted-issuers.service';
import { VerifiedTokenCache } from './verified-token-cache';

/** Set by the key provider on the request: which issuer the token claims to come from. */
const ISSUER_CONTEXT = Symbol('keyward.jwtIssuer');
type IssuerContext = { kind: 'self'; token: string } | { kind: 'external'; issuer: TrustedIssuer };
type WithIssuer = FastifyRequest & { [ISSUER_CONTEXT]?: IssuerContext };

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function rolesFrom(value: unknown): Role[] {
  return Array.isArray(value) ? ROLES.filter((role) => value.includes(role)) : [];
}

/**
 * Passport JwtStrategy for Keyward's own access tokens and trusted external issuers.
 * Before any signature work the key provider refuses what RFC 8725 warns about (alg none,
 * foreign algorithms, jku/x5u/jwk/crit headers, unknown kid, oversize); jsonwebtoken then
 * verifies signature, exp and nbf with 30 s skew; `validate` checks the remaining claims
 * and revocation (an in-memory lookup). A Keyward token that passes all of it is put in
 * the VerifiedTokenCache, which the guard consults first (see there for the rules).
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  private readonly auth: AuthConfig;

  constructor(
    config: ConfigService<KeywardConfig, true>,
    accessTokens: AccessTokenService,
    private readonly trustedIssuers: TrustedIssuersService,
    private readonly revocation: RevocationService,
    private readonly sessions: SessionsRepository,
    private readonly verified: VerifiedTokenCache,
    cookies: CookieService,
    @Inject(PASSPORT_NAMES) names: PassportNames,
  ) {
    const auth = config.get('auth', { infer: true });
    // passport-jwt's types name Express' Request; under Fastify it receives a FastifyRequest.
    const options = {
      // Authorization wins: the access cookie is read only when no Authorization header is sent.
      jwtFromRequest: (request: FastifyRequest) =>
        request.headers.authorization === undefined
          ? (cookies.read(request, 'access') ?? null)
          : bearerToken(request, 'jwt'),
      passReqToCallback: true,
      algorithms: ['ES256', 'RS256', 'HS256'],
      jsonWebTokenOptions: { clockTolerance: auth.clockToleranceSeconds },
      secretOrKeyProvider: (
        request: WithIssuer,
        rawToken: string,
        done: (error: Error | null, key?: KeyObject) => void,
      ) => {
        let header: ReturnType<typeof inspectToken>['header'];
        let payload: Record<string, unknown>;
        try {
          ({ header, payload } = inspectToken(rawToken));
        } catch (error) {
          return done(error as Error);
        }
        if (payload.iss === auth.issuer) {
          request[ISSUER_CONTEXT] = { kind: 'self', token: rawToken };
          try {
            return done(null, accessTokens.verificationKey(header));
          } catch (error) {
            return done(error as Error);
          }
        }
        const issuer = trustedIssuers.find(payload.iss);
        if (!issuer) return done(new TokenRejected('unknown issuer'));
        request[ISSUER_CONTEXT] = { kind: 'external', issuer };
        trustedIssuers.verificationKey(issuer, header).then(
          (key) => done(null, key),
          (error: Error) => done(error),
        );
      },
    };
    super(options as unknown as StrategyOptionsWithRequest);
    this.auth = auth;
    passport.use(names.jwt, this as unknown as passport.Strategy);
  }

  async validate(request: WithIssuer, payload: Record<string, unknown>): Promise<Principal> {
    const context = request[ISSUER_CONTEXT];
    const now = Math.floor(Date.now() / 1000);
    const skew = this.auth.clockToleranceSeconds;
    if (!context) throw new TokenRejected('no issuer context');
    if (typeof payload.exp !== 'number') throw new TokenRejected('exp missing');
    if (typeof payload.sub !== 'string' || payload.sub.length === 0)
      throw new TokenRejected('sub missing');
    if (typeof payload.iat === 'number' && payload.iat > now + skew)
      throw new TokenRejected('iat in the future');
    if (context.kind === 'external')
      return this.trustedIssuers.principalFor(context.issuer, payload);
    if (payload.iss !== this.auth.issuer || !audienceIncludes(payload.aud, this.auth.audience)) {
      throw new TokenRejected('iss or aud mismatch');
    }
    if (typeof payload.iat !== 'number') throw new TokenRejected('iat missing');
    if (typeof payload.jti !== 'string' || typeof payload.sid !== 'string')
      throw new TokenRejected('jti or sid missing');
    // Session ids are uuids: anything else is forged, and must not reach a uuid column.
    if (!SESSION_ID.test(payload.sid)) throw new TokenRejected('sid is not a session id');
    if (this.revocation.isRevoked(payload.sid)) throw new TokenRejected('session revoked');
    // First sight of this token only (then the VerifiedTokenCache): a token minted with our
    // key for a session or user that does not exist, or of a disabled user, is a 401 here
    // rather than a foreign-key error later; roles are never more than the user has now.
    // With the database down, signed-in users keep working on what the token and the
    // revocation set say; the token is not cached, so the check runs once it is back.
    const owner = await this.sessions.findOwner(payload.sid).catch((error: unknown) => {
      if (isDependencyUnavailable(error)) return 'unavailable' as const;
      throw error;
    });
    if (
      owner !== 'unavailable' &&
      (!owner || owner.userId !== payload.sub || owner.disabled || owner.revoked)
    )
      throw new TokenRejected('unknown session, user or disabled user');
    const roles = rolesFrom(payload.roles).filter(
      (role) => owner === 'unavailable' || owner.roles.includes(role),
    );
    const granted = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    const principal: Principal = {
      userId: payload.sub,
      username:
        typeof payload.preferred_username === 'string' ? payload.preferred_username : payload.sub,
      roles,
      // A token never gets more than its roles allow, whatever its scope claim says.
      scopes: scopesForRoles(roles).filter((scope: Scope) => granted.includes(scope)),
      authMethod: request.headers.authorization ? 'jwt' : 'cookie',
      sessionId: payload.sid,
      authTime: typeof payload.auth_time === 'number' ? payload.auth_time : undefined,
    };
    if (owner !== 'unavailable') this.verified.remember(context.token, payload.exp, principal);
    return principal;
  }
}
