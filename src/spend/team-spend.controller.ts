import { Controller, Get, Inject, Param, ParseUUIDPipe, Query, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { DomainError } from '../common/domain-error';
import {
  RequestLogPageDto,
  RequestLogQueryDto,
  SpendQueryDto,
  SpendReportDto,
} from './dto/request-log.dto';
import { sendRequests } from './send-requests';
import { SpendService } from './spend.service';
import { TEAM_LOOKUP, type TeamLookup } from './team-lookup';

/** One team's request log and spend: its team admins, and admins. */
@ApiTags('teams')
@RequireScopes('usage')
@Controller('api/v1/teams/:id')
export class TeamSpendController {
  constructor(
    private readonly spend: SpendService,
    @Inject(TEAM_LOOKUP) private readonly teams: TeamLookup,
  ) {}

  @Get('requests')
  @ApiOperation({
    summary: "The team's request log (team admins of the team, admins); as admin requests",
  })
  @ApiProduces('application/json', 'text/csv')
  @ApiOkResponse({ type: RequestLogPageDto })
  async requests(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Query() query: RequestLogQueryDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await this.assertTeamAdmin(principal, id);
    await sendRequests(this.spend, query, request, reply, id);
  }

  @Get('spend')
  @ApiOperation({
    summary: "The team's spend over time per user, model or key (team admins, admins)",
  })
  @ApiOkResponse({ type: SpendReportDto })
  async report(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Query() query: SpendQueryDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<SpendReportDto> {
    await this.assertTeamAdmin(principal, id);
    return this.spend.spend({ ...query, groupBy: query.groupBy ?? 'user' }, id);
  }

  private async assertTeamAdmin(principal: Principal, teamId: string): Promise<void> {
    if (principal.roles.includes('admin') && principal.scopes.includes('admin')) return;
    if (await this.teams.isTeamAdmin(principal.userId, teamId)) return;
    // The same answer whether the team exists or not: ids are not confirmed to outsiders.
    throw new DomainError('forbidden', 'Only admins of this team may read its spend.');
  }
}
