import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '../http/openapi-decorators';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { UsageQueryDto, UsageReportDto } from './dto/usage.dto';
import { UsageService } from './usage.service';

@ApiTags('usage')
@RequireScopes('usage')
@Controller('api/v1/usage')
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  @Get()
  @ApiOperation({ summary: 'Own chat token usage by UTC day and model, with current limits' })
  @ApiOkResponse({ type: UsageReportDto })
  own(
    @CurrentPrincipal() principal: Principal,
    @Query() query: UsageQueryDto,
  ): Promise<UsageReportDto> {
    return this.usage.own(principal, query.days);
  }
}
