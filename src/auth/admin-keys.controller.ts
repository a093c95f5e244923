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
import { ApiNoContentResponse, ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import type { Actor } from '../users/users.service';
import { ApiKeysService } from './api-keys.service';
import { AdminOnly, CurrentActor, CurrentPrincipal } from './auth.decorators';
import { AdminApiKeyDto, AdminKeysQueryDto, AdminUpdateApiKeyDto } from './dto/api-key.dto';
import type { Principal } from './principal';

/** Every user's and team's keys: list, disable, revoke (admins). */
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
  @ApiOperation({ summary: 'Disable (or enable again) a key: refused at once while disabled' })
  @ApiOkResponse({ type: AdminApiKeyDto })
  update(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: AdminUpdateApiKeyDto,
    @CurrentActor() actor: Actor,
  ): Promise<AdminApiKeyDto> {
    return this.apiKeys.setDisabled(id, body.disabled, actor);
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
