import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Patch,
  Req,
} from '@nestjs/common';
import {
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '../http/openapi-decorators';
import type { FastifyRequest } from 'fastify';
import { ApiKeysService } from './api-keys.service';
import { CurrentPrincipal, RequireScopes } from './auth.decorators';
import { AdminApiKeyDto, UpdateApiKeyDto } from './dto/api-key.dto';
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

  @Patch(':keyId')
  @ApiOperation({
    summary: "Change a team key's name or policy (as at creation)",
    description:
      'Absent fields stay as they are; null removes a limit. Applies at once on this instance, within 3 s on the others. At least one field, else 400.',
  })
  @ApiOkResponse({ type: AdminApiKeyDto })
  @ApiNotFoundResponse({ description: "No such team or key, or not the caller's to manage" })
  update(
    @CurrentPrincipal() principal: Principal,
    @Param('id', new ParseUUIDPipe()) id: string,
    @Param('keyId', new ParseUUIDPipe()) keyId: string,
    @Body() body: UpdateApiKeyDto,
    @Req() request: FastifyRequest,
  ): Promise<AdminApiKeyDto> {
    return this.apiKeys.updateAny(
      principal,
      keyId,
      body,
      { by: 'team_admin', teamId: id },
      request.ip,
    );
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
