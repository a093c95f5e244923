import { Controller, Get, Param, ParseUUIDPipe, Query, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '../http/openapi-decorators';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { TeamsService } from '../teams/teams.service';
import {
  RequestLogPageDto,
  RequestLogQueryDto,
  SpendQueryDto,
  SpendReportDto,
} from './dto/request-log.dto';
import { sendRequests } from './send-requests';
import { SpendService } from './spend.service';

/**
 * One team's request log and spend: its team admins, and admins (the teams module's rule;
 * anyone else gets the 404 of a team that does not exist).
 */
@ApiTags('teams')
@RequireScopes('usage')
@Controller('api/v1/teams/:id')
export class TeamSpendController {
  constructor(
    private readonly spend: SpendService,
    private readonly teams: TeamsService,
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
    await this.teams.assertCanManage(principal, id);
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
    await this.teams.assertCanManage(principal, id);
    return this.spend.spend({ ...query, groupBy: query.groupBy ?? 'user' }, id);
  }
}
