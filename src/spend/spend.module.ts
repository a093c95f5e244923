import { Module } from '@nestjs/common';
import { TeamsModule } from '../teams/teams.module';
import { AdminSpendController } from './admin-spend.controller';
import { RequestLogRepository } from './request-log.repository';
import { SpendService } from './spend.service';
import { TeamSpendController } from './team-spend.controller';

/** Spend: the request log's admin and team routes, spend over time (docs/request-log.md). */
@Module({
  imports: [TeamsModule],
  controllers: [AdminSpendController, TeamSpendController],
  providers: [RequestLogRepository, SpendService],
})
export class SpendModule {}
