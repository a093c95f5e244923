import { Global, Module } from '@nestjs/common';
import { RequestLogWriter } from './request-log.writer';
import { NoTeamsLookup, TEAM_LOOKUP } from './team-lookup';

/**
 * The request log's writer (one per instance), used where calls are settled; global so the
 * usage module can hand it rows without importing the spend routes.
 */
@Global()
@Module({
  providers: [RequestLogWriter, { provide: TEAM_LOOKUP, useClass: NoTeamsLookup }],
  exports: [RequestLogWriter, TEAM_LOOKUP],
})
export class RequestLogModule {}
