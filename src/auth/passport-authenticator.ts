import { Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import passport from 'passport';
import { DomainError } from '../common/domain-error';
import { CredentialReader } from './credential-reader';
import { PASSPORT_NAMES, type PassportNames } from './passport-names.module';
import type { Principal } from './principal';

/**
 * Runs this instance's Passport strategies (API key first, then JWT) through
 * `passport.authenticate`, as @nestjs/passport's AuthGuard does, but by the per-instance
 * names of PassportNamesModule: AuthGuard's mixin fixes strategy names per class, and
 * passport's registry is process-wide. Every refusal leaves here, with one answer.
 */
@Injectable()
export class PassportAuthenticator {
  private readonly strategies: string[];

  constructor(
    private readonly credentials: CredentialReader,
    @Inject(PASSPORT_NAMES) names: PassportNames,
  ) {
    this.strategies = [names.apiKey, names.jwt];
  }

  authenticate(request: FastifyRequest, reply: FastifyReply): Promise<Principal> {
    return new Promise((resolve, reject) => {
      const done = (error: unknown, user: Principal | false, info: unknown) => {
        if (user) return resolve(user);
        // The reason stays in the log (debug); the client gets one generic answer.
        const reasons = (Array.isArray(info) ? info : [info])
          .map((entry) => (entry instanceof Error ? entry.message : undefined))
          .filter(Boolean);
        request.log.debug({ reasons }, 'authentication failed');
        if (error instanceof DomainError) return reject(error);
        reject(
          // RFC 6750 §3.1: `invalid_token` only when a credential was presented.
          this.credentials.read(request)
            ? new DomainError(
                'invalid_token',
                'The access token or API key is invalid, expired or revoked.',
              )
            : new DomainError('unauthenticated', 'Authentication is required.'),
        );
      };
      const middleware = passport.authenticate(this.strategies, { session: false }, done) as (
        req: unknown,
        res: unknown,
        next: (error?: unknown) => void,
      ) => void;
      middleware(request, reply, (error?: unknown) =>
        reject(error instanceof Error ? error : new Error('passport called next() unexpectedly')),
      );
    });
  }
}
