import { Injectable, Logger } from '@nestjs/common';
import type { TeamRole } from '../config/oidc.config';

/**
 * SEAM (issue 16 × teams): applies the `team:<name>:<role>` grants of OIDC_ROLE_MAP to a
 * user at each single sign-on. The teams feature is not part of this code yet, so the
 * grants are parsed, validated and computed (role-mapping.ts) but only logged here. Wiring:
 * resolve each team by name, then set the user's membership to the role, and remove the
 * memberships of teams the map names that no group grants any more.
 */
@Injectable()
export class TeamGrants {
  private readonly logger = new Logger(TeamGrants.name);

  // eslint-disable-next-line @typescript-eslint/require-await
  async apply(userId: string, teams: ReadonlyMap<string, TeamRole>): Promise<void> {
    if (teams.size === 0) return;
    this.logger.warn(
      `OIDC_ROLE_MAP grants team roles (${[...teams.keys()].join(', ')}) to user ${userId}, ` +
        'but teams are not available in this build: the grants are not applied',
    );
  }
}
