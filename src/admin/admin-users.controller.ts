import { Body, Controller, Get, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation } from '../http/openapi-decorators';
import { AdminOnly, CurrentActor } from '../auth/auth.decorators';
import type { User } from '../users/user';
import { type Actor, UsersService } from '../users/users.service';
import {
  AdminUserDto,
  AdminUsersQueryDto,
  CreateUserDto,
  UpdateUserDto,
} from './dto/admin-user.dto';

function toDto(user: User): AdminUserDto {
  return {
    id: user.id,
    username: user.username,
    roles: [...user.roles],
    disabled: user.disabled,
    chatRpm: user.chatRpm,
    chatDailyTokens: user.chatDailyTokens,
    machine: user.machine,
    createdAt: user.createdAt.toISOString(),
  };
}

@AdminOnly()
@Controller('api/v1/admin/users')
export class AdminUsersController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @ApiOperation({
    summary:
      'List users: the people, and with `machine=include` the machine clients’ service users',
  })
  @ApiOkResponse({ type: AdminUserDto, isArray: true })
  async list(@Query() query: AdminUsersQueryDto): Promise<AdminUserDto[]> {
    const machine = query.machine ?? 'exclude';
    const users = await this.users.list();
    return users
      .filter((user) => machine === 'include' || user.machine === (machine === 'only'))
      .map(toDto);
  }

  @Post()
  @ApiOperation({
    summary: 'Create a user (password policy: 12–128 characters, not a common password)',
  })
  @ApiCreatedResponse({ type: AdminUserDto })
  async create(@Body() body: CreateUserDto, @CurrentActor() actor: Actor): Promise<AdminUserDto> {
    const user = await this.users.create(
      { username: body.username, password: body.password, roles: body.roles ?? ['user'] },
      actor,
    );
    return toDto(user);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One user' })
  @ApiOkResponse({ type: AdminUserDto })
  async get(@Param('id', new ParseUUIDPipe()) id: string): Promise<AdminUserDto> {
    return toDto(await this.users.get(id));
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Change roles, disable, reset the password or set per-user chat limits',
  })
  @ApiOkResponse({ type: AdminUserDto })
  async update(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: UpdateUserDto,
    @CurrentActor() actor: Actor,
  ): Promise<AdminUserDto> {
    return toDto(await this.users.update(id, body, actor));
  }
}
