import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation } from '../http/openapi-decorators';
import { AuditService } from '../audit/audit.service';
import { AdminOnly } from '../auth/auth.decorators';
import { AuditQueryDto } from './dto/admin-user.dto';

@AdminOnly()
@Controller('api/v1/admin/audit')
export class AdminAuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOperation({
    summary:
      'Security events, newest first (hash-chained; verify with `npm run cli -- audit verify`)',
  })
  @ApiOkResponse({
    schema: {
      example: [
        {
          id: 42,
          at: '2026-11-22T00:00:00.000Z',
          event: 'login.failed',
          actorId: null,
          subject: 'alice',
          ip: '127.0.0.1',
          details: {},
          hash: '…',
        },
      ],
    },
  })
  async list(@Query() query: AuditQueryDto) {
    const rows = await this.audit.list({
      limit: query.limit ?? 100,
      beforeId: query.before,
      event: query.event,
    });
    return rows.map((row) => ({
      id: row.id,
      at: row.at.toISOString(),
      event: row.event,
      actorId: row.actorId,
      subject: row.subject,
      ip: row.ip,
      details: row.details,
      hash: row.hash,
    }));
  }
}
