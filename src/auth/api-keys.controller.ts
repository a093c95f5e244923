import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Req,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '../http/openapi-decorators';
import type { FastifyRequest } from 'fastify';
import { ApiKeysService } from './api-keys.service';
import { CurrentPrincipal, RequireScopes } from './auth.decorators';
import {
  ApiKeyDto,
  CreateApiKeyDto,
  CreatedApiKeyDto,
  RotateApiKeyDto,
  UpdateApiKeyDto,
} from './dto/api-key.dto';
import type { Principal } from './principal';

/** Own API keys. Needs the `keys` scope, which sign-in sessions have and API keys never do. */
@ApiTags('keys')
@RequireScopes('keys')
@Controller('api/v1/keys')
export class ApiKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  @Post()
  @ApiOperation({ summary: 'Create an API key (`kw_...`): the key is shown only in this response' })
  @ApiCreatedResponse({ type: CreatedApiKeyDto })
  @ApiForbiddenResponse({
    description:
      '`recent_sign_in_required`: the password sign-in behind this session is older than API_KEY_MAX_SIGN_IN_AGE (10 minutes); sign in again. `insufficient_scope`: API keys cannot create keys.',
  })
  create(
    @CurrentPrincipal() principal: Principal,
    @Body() body: CreateApiKeyDto,
    @Req() request: FastifyRequest,
  ): Promise<CreatedApiKeyDto> {
    return this.apiKeys.create(principal, body, request.ip);
  }

  @Get()
  @ApiOperation({
    summary:
      'List own active API keys (never the keys themselves), with last use and spend today and this month',
  })
  @ApiOkResponse({ type: ApiKeyDto, isArray: true })
  list(@CurrentPrincipal() principal: Principal): Promise<ApiKeyDto[]> {
    return this.apiKeys.list(principal.userId);
  }

  @Post(':id/rotate')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Rotate a key: a new secret (shown once), same id, policy and spend; the old secret is refused at once, or after graceSeconds',
  })
  @ApiOkResponse({ type: CreatedApiKeyDto })
  @ApiForbiddenResponse({
    description:
      '`recent_sign_in_required`: as for creating a key, the sign-in behind this session must be at most API_KEY_MAX_SIGN_IN_AGE old.',
  })
  rotate(
    @CurrentPrincipal() principal: Principal,
    @Param('id', new ParseUUIDPipe({ version: '4' })) id: string,
    @Body() body: RotateApiKeyDto,
    @Req() request: FastifyRequest,
  ): Promise<CreatedApiKeyDto> {
    return this.apiKeys.rotate(principal, id, body.graceSeconds, request.ip);
  }

  @Patch(':id')
  @ApiOperation({
    summary: "Change an own key's name or policy (limits, models, address ranges), as at creation",
    description:
      "Absent fields stay as they are; null removes a limit. Applies at once on this instance, within 3 s on the others. At least one field, else 400. A team key's limits are its team's to set: 403 unless the caller is that team's team_admin (or an admin).",
  })
  @ApiOkResponse({ type: ApiKeyDto })
  @ApiNotFoundResponse({ description: 'No such active key of the caller' })
  @ApiForbiddenResponse({
    description: "A team key, and the caller no longer manages its team; or an API key's call",
  })
  update(
    @CurrentPrincipal() principal: Principal,
    @Param('id', new ParseUUIDPipe({ version: '4' })) id: string,
    @Body() body: UpdateApiKeyDto,
    @Req() request: FastifyRequest,
  ): Promise<ApiKeyDto> {
    return this.apiKeys.updateOwn(principal, id, body, request.ip);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an own API key' })
  @ApiNoContentResponse()
  async revoke(
    @CurrentPrincipal() principal: Principal,
    @Param('id', new ParseUUIDPipe({ version: '4' })) id: string,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    await this.apiKeys.revoke(principal, id, request.ip);
  }
}
