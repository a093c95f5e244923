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
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
} from '../http/openapi-decorators';
import { AdminOnly, CurrentActor } from '../auth/auth.decorators';
import type { Actor } from '../users/users.service';
import { CreateTeamDto, TeamDto, UpdateTeamDto } from './dto/team.dto';
import { TeamsService } from './teams.service';

/** Teams and their limits: admins only (docs/policy.md). */
@AdminOnly()
@Controller('api/v1/admin/teams')
export class AdminTeamsController {
  constructor(private readonly teams: TeamsService) {}

  @Post()
  @ApiOperation({ summary: 'Create a team with its limits (null or absent: no limit)' })
  @ApiCreatedResponse({ type: TeamDto })
  create(@Body() body: CreateTeamDto, @CurrentActor() actor: Actor): Promise<TeamDto> {
    return this.teams.create(body, actor);
  }

  @Get()
  @ApiOperation({ summary: 'List teams' })
  @ApiOkResponse({ type: TeamDto, isArray: true })
  list(): Promise<TeamDto[]> {
    return this.teams.list();
  }

  @Get(':id')
  @ApiOperation({ summary: 'One team' })
  @ApiOkResponse({ type: TeamDto })
  get(@Param('id', new ParseUUIDPipe()) id: string): Promise<TeamDto> {
    return this.teams.get(id);
  }

  @Patch(':id')
  @ApiOperation({
    summary: "Change a team's name, limits or content logging (null clears a limit)",
  })
  @ApiOkResponse({ type: TeamDto })
  update(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: UpdateTeamDto,
    @CurrentActor() actor: Actor,
  ): Promise<TeamDto> {
    return this.teams.update(id, body, actor);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Delete a team: its memberships go, its keys are revoked (kept, as history)',
  })
  @ApiNoContentResponse()
  async delete(
    @Param('id', new ParseUUIDPipe()) id: string,
    @CurrentActor() actor: Actor,
  ): Promise<void> {
    await this.teams.delete(id, actor);
  }
}
