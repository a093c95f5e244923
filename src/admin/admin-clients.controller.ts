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
} from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation } from '../http/openapi-decorators';
import { AdminOnly, CurrentActor } from '../auth/auth.decorators';
import type { Actor } from '../users/users.service';
import { MachineClientsService } from '../auth/machine-clients.service';
import {
  AdminClientDto,
  AdminClientWithSecretDto,
  CreateClientDto,
  UpdateClientDto,
} from './dto/admin-client.dto';

/** Machine clients (OAuth2 client_credentials): docs/clients.md. */
@AdminOnly()
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
    @CurrentActor() actor: Actor,
  ): Promise<AdminClientWithSecretDto> {
    return this.clients.create(body, actor);
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
    @CurrentActor() actor: Actor,
  ): Promise<AdminClientWithSecretDto> {
    return this.clients.rotate(id, actor);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Disable or enable a client; disabling ends its live tokens at once' })
  @ApiOkResponse({ type: AdminClientDto })
  update(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: UpdateClientDto,
    @CurrentActor() actor: Actor,
  ): Promise<AdminClientDto> {
    return this.clients.setDisabled(id, body.disabled, actor);
  }
}
