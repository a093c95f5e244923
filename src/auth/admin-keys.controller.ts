import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Patch,
  Query,
  Req,
} from '@nestjs/common';
import {
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
} from '../http/openapi-decorators';
import type { FastifyRequest } from 'fastify';
import { ApiKeysService } from './api-keys.service';
import { AdminOnly, CurrentPrincipal } from './auth.decorators';
import { AdminApiKeyDto, AdminKeysQueryDto, AdminUpdateApiKeyDto } from './dto/api-key.dto';
import type { Principal } from './principal';

/** Every user's and team's keys: list, change, disable, revoke (admins). */
@AdminOnly()
@Controller('api/v1/admin/keys')
export class AdminKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  @Get()
  @ApiOperation({ summary: 'Active keys of every user (filter by userId, teamId)' })
  @ApiOkResponse({ type: AdminApiKeyDto, isArray: true })
  list(@Query() query: AdminKeysQueryDto): Promise<AdminApiKeyDto[]> {
    return this.apiKeys.listAll({ userId: query.userId, teamId: query.teamId });
  }

  @Patch(':id')
  @ApiOperation({
    summary:
      "Change any key's name or policy (as at creation), or disable it (refused at once while disabled) or enable it again",
    description:
      'Absent fields stay as they are; null removes a limit. Applies at once on this instance, within 3 s on the others. At least one field, else 400.',
  })
  @ApiOkResponse({ type: AdminApiKeyDto })
  @ApiNotFoundResponse({ description: 'No such active key' })
  update(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: AdminUpdateApiKeyDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<AdminApiKeyDto> {
    return this.apiKeys.updateAny(principal, id, body, { by: 'admin' }, request.ip);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke any key' })
  @ApiNoContentResponse()
  async revoke(
    @Param('id', new ParseUUIDPipe()) id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    await this.apiKeys.revokeAny(principal, id, undefined, request.ip);
  }
}
