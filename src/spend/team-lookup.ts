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

/** Provided by the teams feature (src/teams/teams-lookup.ts). */
export const TEAM_LOOKUP = Symbol('TeamLookup');
