import { Injectable } from '@nestjs/common';
import { TeamsService } from '../teams/teams.service';

/**
 * What the request log needs to know about teams: whether a team logs prompt and completion
 * text (its `logContent` setting, off by default) and teams' names for spend labels. The teams
 * feature owns both; the request log reads them through this interface.
 */
export interface TeamLookup {
  logsContent(teamId: string): Promise<boolean>;
  /** Names of the teams that exist among `teamIds`. */
  names(teamIds: readonly string[]): Promise<Map<string, string>>;
}

export const TEAM_LOOKUP = Symbol('TeamLookup');

/** The teams module's view: the cached team policy (re-read every few seconds) for `logContent`. */
@Injectable()
export class TeamsServiceLookup implements TeamLookup {
  constructor(private readonly teams: TeamsService) {}

  async logsContent(teamId: string): Promise<boolean> {
    return (await this.teams.policy(teamId))?.logContent ?? false;
  }

  async names(teamIds: readonly string[]): Promise<Map<string, string>> {
    if (teamIds.length === 0) return new Map<string, string>();
    const wanted = new Set(teamIds);
    const teams = await this.teams.list();
    return new Map(teams.filter((team) => wanted.has(team.id)).map((t) => [t.id, t.name]));
  }
}
