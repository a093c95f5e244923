import { Injectable, Logger } from '@nestjs/common';
import type { TeamRole } from '../database/schema';
import { TeamsService } from '../teams/teams.service';
import type { Actor } from '../users/users.service';

/**
 * Applies the `team:<name>:<role>` grants of OIDC_ROLE_MAP at each single sign-on: the user's
 * membership of every team the map names becomes what their groups grant (removed when no
 * group grants it any more). Teams are created by admins, never by a sign-in: a name with no
 * team is logged and skipped.
 */
@Injectable()
export class TeamGrants {
  private readonly logger = new Logger(TeamGrants.name);

  constructor(private readonly teams: TeamsService) {}

  async apply(
    userId: string,
    grants: ReadonlyMap<string, TeamRole>,
    managedTeams: readonly string[],
    actor: Actor,
  ): Promise<void> {
    if (managedTeams.length === 0) return;
    const missing = await this.teams.syncMemberships(userId, grants, managedTeams, actor);
    if (missing.length > 0) {
      this.logger.warn(
        `OIDC_ROLE_MAP names teams that do not exist, skipped: ${missing.join(', ')}`,
      );
    }
  }
}
