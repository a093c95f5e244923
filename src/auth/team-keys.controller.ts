import { Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Req } from '@nestjs/common';
import {
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiKeysService } from './api-keys.service';
import { CurrentPrincipal, RequireScopes } from './auth.decorators';
import { AdminApiKeyDto } from './dto/api-key.dto';
import type { Principal } from './principal';

/** A team's keys: its team admins and admins (docs/policy.md); 404 for anyone else. */
@ApiTags('teams')
@RequireScopes('keys')
@Controller('api/v1/teams/:id/keys')
export class TeamKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  @Get()
  @ApiOperation({ summary: "The team's active keys, with owner, last use and spend" })
  @ApiOkResponse({ type: AdminApiKeyDto, isArray: true })
  @ApiNotFoundResponse({ description: "No such team, or not the caller's to manage" })
  list(
    @CurrentPrincipal() principal: Principal,
    @Param('id', new ParseUUIDPipe()) id: string,
  ): Promise<AdminApiKeyDto[]> {
    return this.apiKeys.listForTeam(principal, id);
  }

  @Delete(':keyId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke a key of the team' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: "No such team or key, or not the caller's to manage" })
  async revoke(
    @CurrentPrincipal() principal: Principal,
    @Param('id', new ParseUUIDPipe()) id: string,
    @Param('keyId', new ParseUUIDPipe()) keyId: string,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    await this.apiKeys.revokeAny(principal, keyId, id, request.ip);
  }
}
