import { Injectable } from '@nestjs/common';
import type { TeamLookup } from '../spend/team-lookup';
import { TeamsRepository } from './teams.repository';
import { TeamsService } from './teams.service';

/** What the request log and the spend reports ask about teams, answered by the teams feature. */
@Injectable()
export class TeamsLookup implements TeamLookup {
  constructor(
    private readonly teams: TeamsService,
    private readonly repository: TeamsRepository,
  ) {}

  /** From the cached team policy (TEAM_POLICY_CACHE_MS): no query per logged call. */
  async logsContent(teamId: string): Promise<boolean> {
    return (await this.teams.policy(teamId))?.logContent ?? false;
  }

  names(teamIds: readonly string[]): Promise<Map<string, string>> {
    return this.repository.namesOf(teamIds);
  }

  isTeamAdmin(userId: string, teamId: string): Promise<boolean> {
    return this.teams.isTeamAdmin(teamId, userId);
  }
}
