import { Global, Module } from '@nestjs/common';
import { RequestLogWriter } from './request-log.writer';
import { TeamsLookup } from '../teams/teams-lookup';
import { TeamsModule } from '../teams/teams.module';
import { TEAM_LOOKUP } from './team-lookup';

/**
 * The request log's writer (one per instance), used where calls are settled; global so the
 * usage module can hand it rows without importing the spend routes.
 */
@Global()
@Module({
  // Teams answer what the log asks about them (content opt-in, names, team admins).
  imports: [TeamsModule],
  providers: [RequestLogWriter, { provide: TEAM_LOOKUP, useExisting: TeamsLookup }],
  exports: [RequestLogWriter, TEAM_LOOKUP],
})
export class RequestLogModule {}
