import {
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Req,
} from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { CurrentPrincipal, RequireScopes, Roles } from '../auth/auth.decorators';
import { MachineClientsService } from '../auth/machine-clients.service';
import type { Principal } from '../auth/principal';
import {
  AdminClientDto,
  AdminClientWithSecretDto,
  CreateClientDto,
  UpdateClientDto,
} from './dto/admin-client.dto';

/** Machine clients (OAuth2 client_credentials): docs/clients.md. */
@ApiTags('admin')
@Roles('admin')
@RequireScopes('admin')
@Controller('api/v1/admin/clients')
export class AdminClientsController {
  constructor(private readonly clients: MachineClientsService) {}

  @Get()
  @ApiOperation({ summary: 'List machine clients (never their secrets)' })
  @ApiOkResponse({ type: AdminClientDto, isArray: true })
  list(): Promise<AdminClientDto[]> {
    return this.clients.list();
  }

  @Post()
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Register a machine client; the secret is shown once',
    description:
      'The client gets a service user of the same id (listed by /api/v1/admin/users with machine: true): ' +
      'set its chat limits there; its usage appears under that id.',
  })
  @ApiCreatedResponse({ type: AdminClientWithSecretDto })
  create(
    @Body() body: CreateClientDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<AdminClientWithSecretDto> {
    return this.clients.create(body, { id: principal.userId, ip: request.ip });
  }

  @Post(':id/rotate')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Replace the client secret; the old one and its live tokens stop working at once',
  })
  @ApiOkResponse({ type: AdminClientWithSecretDto })
  rotate(
    @Param('id', new ParseUUIDPipe()) id: string,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<AdminClientWithSecretDto> {
    return this.clients.rotate(id, { id: principal.userId, ip: request.ip });
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Disable or enable a client; disabling ends its live tokens at once' })
  @ApiOkResponse({ type: AdminClientDto })
  update(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: UpdateClientDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<AdminClientDto> {
    return this.clients.setDisabled(id, body.disabled, { id: principal.userId, ip: request.ip });
  }
}
