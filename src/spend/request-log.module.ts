import { Global, Module } from '@nestjs/common';
import { TeamsModule } from '../teams/teams.module';
import { RequestLogWriter } from './request-log.writer';
import { TEAM_LOOKUP, TeamsServiceLookup } from './team-lookup';

/**
 * The request log's writer (one per instance), used where calls are settled; global so the
 * usage module can hand it rows without importing the spend routes.
 */
@Global()
@Module({
  imports: [TeamsModule],
  providers: [RequestLogWriter, { provide: TEAM_LOOKUP, useClass: TeamsServiceLookup }],
  exports: [RequestLogWriter, TEAM_LOOKUP],
})
export class RequestLogModule {}
