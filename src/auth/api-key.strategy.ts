import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import passport from 'passport';
import { Strategy } from 'passport-custom';
import { ApiKeysService } from './api-keys.service';
import { CredentialReader } from './credential-reader';
import { PASSPORT_NAMES, type PassportNames } from './passport-names.module';
import type { Principal } from './principal';

/**
 * `Authorization: Bearer kw_...`: API keys work wherever a JWT does (docs/reference.md "Tokens").
 */
@Injectable()
export class ApiKeyStrategy extends PassportStrategy(Strategy, 'api-key') {
  constructor(
    private readonly apiKeys: ApiKeysService,
    private readonly credentials: CredentialReader,
    @Inject(PASSPORT_NAMES) names: PassportNames,
  ) {
    super();
    passport.use(names.apiKey, this as unknown as passport.Strategy);
  }

  async validate(request: FastifyRequest): Promise<Principal | false> {
    const credential = this.credentials.read(request);
    if (credential?.kind !== 'api_key') return false;
    return (await this.apiKeys.authenticate(credential.token, request.ip)) ?? false;
  }
}
