import { Module } from '@nestjs/common';
import { UsersModule } from '../users/users.module';
import { AdminTeamsController } from './admin-teams.controller';
import { TeamsController } from './teams.controller';
import { TeamsRepository } from './teams.repository';
import { TeamsService } from './teams.service';

/**
 * Teams, their members and limits (docs/policy.md). Team keys are API keys with a team: their
 * routes live with the keys (auth module), which imports this one.
 */
@Module({
  imports: [UsersModule],
  controllers: [AdminTeamsController, TeamsController],
  providers: [TeamsRepository, TeamsService],
  exports: [TeamsService],
})
export class TeamsModule {}
