import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { Strategy } from 'passport-custom';
import { ApiKeysService } from './api-keys.service';
import { bearerToken } from './credentials';
import type { Principal } from './principal';

/** `Authorization: Bearer kw_...`: API keys work wherever a JWT does (SPEC "Tokens"). */
@Injectable()
export class ApiKeyStrategy extends PassportStrategy(Strategy, 'api-key') {
  constructor(private readonly apiKeys: ApiKeysService) {
    super();
  }

  async validate(request: FastifyRequest): Promise<Principal | false> {
    const key = bearerToken(request, 'api_key');
    if (!key) return false;
    return (await this.apiKeys.authenticate(key)) ?? false;
  }
}
