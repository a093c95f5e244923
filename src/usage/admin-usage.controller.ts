import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation } from '../http/openapi-decorators';
import { AdminOnly } from '../auth/auth.decorators';
import { AdminUsageQueryDto, UsageReportDto } from './dto/usage.dto';
import { UsageService } from './usage.service';

@AdminOnly()
@Controller('api/v1/admin/usage')
export class AdminUsageController {
  constructor(private readonly usage: UsageService) {}

  @Get()
  @ApiOperation({
    summary: 'Chat token usage of every user (or one: ?userId=) by UTC day and model',
  })
  @ApiOkResponse({ type: UsageReportDto })
  all(@Query() query: AdminUsageQueryDto): Promise<UsageReportDto> {
    return this.usage.all(query.days, query.userId);
  }
}
