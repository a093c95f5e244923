/**
 * What the request log needs to know about teams: whether a team logs prompt and completion
 * text (its `logContent` setting, off by default) and teams' names for spend labels. The teams
 * feature owns both; the request log reads them through this interface.
 */
export interface TeamLookup {
  logsContent(teamId: string): Promise<boolean>;
  /** Names of the teams that exist among `teamIds`. */
  names(teamIds: readonly string[]): Promise<Map<string, string>>;
  /** Whether the user is a `team_admin` of the team (admins are checked by the caller). */
  isTeamAdmin(userId: string, teamId: string): Promise<boolean>;
}

export const TEAM_LOOKUP = Symbol('TeamLookup');

/** Until teams exist no call has a team, so nothing logs content and no team has a name. */
export class NoTeamsLookup implements TeamLookup {
  logsContent(): Promise<boolean> {
    return Promise.resolve(false);
  }

  names(): Promise<Map<string, string>> {
    return Promise.resolve(new Map<string, string>());
  }

  isTeamAdmin(): Promise<boolean> {
    return Promise.resolve(false);
  }
}
