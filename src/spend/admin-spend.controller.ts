import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces } from '../http/openapi-decorators';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AdminOnly } from '../auth/auth.decorators';
import {
  RequestLogPageDto,
  RequestLogQueryDto,
  SpendQueryDto,
  SpendReportDto,
} from './dto/request-log.dto';
import { sendRequests } from './send-requests';
import { SpendService } from './spend.service';

@AdminOnly()
@Controller('api/v1/admin')
export class AdminSpendController {
  constructor(private readonly spend: SpendService) {}

  @Get('requests')
  @ApiOperation({
    summary: 'The request log: one row per upstream call, filtered, newest first',
    description:
      'Cursor pagination (`nextCursor`). With `Accept: text/csv`: every matching row as CSV, ' +
      "streamed (limit and cursor ignored); cells that could start a formula are prefixed with `'`.",
  })
  @ApiProduces('application/json', 'text/csv')
  @ApiOkResponse({ type: RequestLogPageDto })
  async requests(
    @Query() query: RequestLogQueryDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await sendRequests(this.spend, query, request, reply);
  }

  @Get('spend')
  @ApiOperation({
    summary: 'Spend over time per team, user, model or key, in day or hour buckets (UTC)',
  })
  @ApiOkResponse({ type: SpendReportDto })
  report(@Query() query: SpendQueryDto): Promise<SpendReportDto> {
    return this.spend.spend(query);
  }
}
