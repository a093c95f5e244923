import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Put,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '../http/openapi-decorators';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { AddMemberDto, MyTeamDto, PutMemberDto, TeamMemberDto } from './dto/team.dto';
import { TeamsService } from './teams.service';

const NOT_YOURS =
  "No such team, or the caller is neither an admin nor this team's team_admin (the same answer, so no team's existence leaks).";

/**
 * The caller's teams, and membership management for team admins (their own teams) and admins
 * (any team). Needs the `keys` scope, as managing keys does: sign-in sessions, never API keys.
 */
@ApiTags('teams')
@RequireScopes('keys')
@Controller('api/v1/teams')
export class TeamsController {
  constructor(private readonly teams: TeamsService) {}

  @Get()
  @ApiOperation({ summary: 'The teams the caller belongs to (admins: every team, role admin)' })
  @ApiOkResponse({ type: MyTeamDto, isArray: true })
  list(@CurrentPrincipal() principal: Principal): Promise<MyTeamDto[]> {
    return this.teams.listForCaller(principal);
  }

  @Get(':id/members')
  @ApiOperation({ summary: "A team's members (team admins: own team; admins: any)" })
  @ApiOkResponse({ type: TeamMemberDto, isArray: true })
  @ApiNotFoundResponse({ description: NOT_YOURS })
  members(
    @CurrentPrincipal() principal: Principal,
    @Param('id', new ParseUUIDPipe()) id: string,
  ): Promise<TeamMemberDto[]> {
    return this.teams.members(principal, id);
  }

  @Post(':id/members')
  @ApiOperation({
    summary: 'Add a member by userId or by username (exactly one), or change their role',
    description:
      '201 when the user was added, 200 when they were a member already (their role is now `role`).',
  })
  @ApiCreatedResponse({ type: TeamMemberDto, description: 'Added' })
  @ApiOkResponse({ type: TeamMemberDto, description: 'Already a member; role set' })
  @ApiBadRequestResponse({ description: 'Neither or both of userId and username' })
  @ApiNotFoundResponse({ description: `${NOT_YOURS} Or no such user.` })
  async addMember(
    @CurrentPrincipal() principal: Principal,
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: AddMemberDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TeamMemberDto> {
    const { member, added } = await this.teams.addMember(
      principal,
      id,
      { userId: body.userId, username: body.username },
      body.role,
      request.ip,
    );
    void reply.status(added ? 201 : 200);
    return member;
  }

  @Put(':id/members/:userId')
  @ApiOperation({ summary: 'Add a member or change their role' })
  @ApiOkResponse({ type: TeamMemberDto })
  @ApiNotFoundResponse({ description: NOT_YOURS })
  putMember(
    @CurrentPrincipal() principal: Principal,
    @Param('id', new ParseUUIDPipe()) id: string,
    @Param('userId', new ParseUUIDPipe()) userId: string,
    @Body() body: PutMemberDto,
    @Req() request: FastifyRequest,
  ): Promise<TeamMemberDto> {
    return this.teams.putMember(principal, id, userId, body.role, request.ip);
  }

  @Delete(':id/members/:userId')
  @HttpCode(204)
  @ApiOperation({ summary: "Remove a member (their team keys stay the team's)" })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: NOT_YOURS })
  async removeMember(
    @CurrentPrincipal() principal: Principal,
    @Param('id', new ParseUUIDPipe()) id: string,
    @Param('userId', new ParseUUIDPipe()) userId: string,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    await this.teams.removeMember(principal, id, userId, request.ip);
  }
}
