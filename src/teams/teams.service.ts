import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { isLocalUser, type Principal } from '../auth/principal';
import { DomainError } from '../common/domain-error';
import { ExpiringCache } from '../common/expiring-cache';
import type { TeamRole, TeamRow } from '../database/schema';
import {
  limitsColumns,
  limitsOf,
  limitsView,
  type PolicyLimits,
  type PolicyLimitsInput,
  type PolicyLimitsView,
} from '../policy/policy-limits';
import { isUniqueViolation } from '../users/users.repository';
import { UsersService, type Actor } from '../users/users.service';
import { type MemberRow, TeamsRepository } from './teams.repository';

export interface TeamView extends PolicyLimitsView {
  id: string;
  name: string;
  logContent: boolean;
  createdAt: string;
}

export interface TeamInput extends PolicyLimitsInput {
  name?: string;
  logContent?: boolean;
}

/** A team's policy as enforcement reads it: limits plus the id and name for messages. */
export interface TeamPolicy extends PolicyLimits {
  readonly id: string;
  readonly name: string;
  readonly logContent: boolean;
}

export interface MemberView {
  userId: string;
  username: string;
  role: TeamRole;
  addedAt: string;
}

export type TeamDeletedListener = (teamId: string, actor: Actor) => Promise<void> | void;

/** A team's policy is re-read this often on every instance: changes apply within seconds. */
export const TEAM_POLICY_CACHE_MS = 5_000;
const MAX_CACHED = 10_000;

export function toTeamView(row: TeamRow): TeamView {
  return {
    id: row.id,
    name: row.name,
    ...limitsView(row),
    logContent: row.logContent,
    createdAt: row.createdAt.toISOString(),
  };
}

function toPolicy(row: TeamRow): TeamPolicy {
  return { id: row.id, name: row.name, ...limitsOf(row), logContent: row.logContent };
}

/**
 * Teams (docs/policy.md): admins create them and set their limits; members have a role,
 * `member` or `team_admin`. A team admin manages the members and keys of their own teams and
 * nothing else: for anyone who is neither an admin nor that team's admin, another team's
 * routes answer 404, exactly as for a team that does not exist, so no team's existence leaks.
 */
@Injectable()
export class TeamsService {
  /** Enforcement's view of each team, one read per team at a time (`policy`). */
  private readonly cache = new ExpiringCache<string, TeamPolicy | null>(
    TEAM_POLICY_CACHE_MS,
    MAX_CACHED,
  );
  private readonly loadPolicy = async (teamId: string): Promise<TeamPolicy | null> => {
    const row = await this.repository.findById(teamId);
    return row ? toPolicy(row) : null;
  };
  private readonly deletedListeners: TeamDeletedListener[] = [];

  constructor(
    private readonly repository: TeamsRepository,
    private readonly users: UsersService,
    private readonly audit: AuditService,
  ) {}

  /** Called with every deleted team (API keys revokes the team's keys). */
  onTeamDeleted(listener: TeamDeletedListener): void {
    this.deletedListeners.push(listener);
  }

  async create(input: TeamInput & { name: string }, actor: Actor): Promise<TeamView> {
    const row = await this.repository
      .insert({
        name: input.name,
        logContent: input.logContent ?? false,
        ...limitsColumns(input),
      })
      .catch(rethrowNameTaken);
    await this.audit.record('team.created', {
      actorId: actor.id,
      subject: row.id,
      ip: actor.ip,
      details: { ...toTeamView(row) },
    });
    return toTeamView(row);
  }

  async list(): Promise<TeamView[]> {
    return (await this.repository.list()).map(toTeamView);
  }

  async get(id: string): Promise<TeamView> {
    const row = await this.repository.findById(id);
    if (!row) throw new DomainError('not_found', 'No such team.');
    return toTeamView(row);
  }

  async update(id: string, input: TeamInput, actor: Actor): Promise<TeamView> {
    const values = {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.logContent !== undefined ? { logContent: input.logContent } : {}),
      ...limitsColumns(input),
    };
    const row = await this.repository.update(id, values).catch(rethrowNameTaken);
    if (!row) throw new DomainError('not_found', 'No such team.');
    this.cache.delete(id);
    await this.audit.record('team.updated', {
      actorId: actor.id,
      subject: id,
      ip: actor.ip,
      details: { changes: input },
    });
    return toTeamView(row);
  }

  /** Deletes a team: its memberships go with it, its keys are revoked (kept as history). */
  async delete(id: string, actor: Actor): Promise<void> {
    if (!(await this.repository.findById(id))) throw new DomainError('not_found', 'No such team.');
    // Keys first: a key must never outlive its team's limits, not even for a moment.
    for (const listener of this.deletedListeners) await listener(id, actor);
    const row = await this.repository.delete(id);
    this.cache.delete(id);
    if (!row) return;
    await this.audit.record('team.deleted', {
      actorId: actor.id,
      subject: id,
      ip: actor.ip,
      details: { name: row.name },
    });
  }

  /** The teams the caller belongs to; an admin sees every team, with role `admin`. */
  async listForCaller(
    principal: Principal,
  ): Promise<Array<{ id: string; name: string; role: TeamRole | 'admin' }>> {
    if (principal.roles.includes('admin')) {
      return (await this.repository.list()).map((row) => ({
        id: row.id,
        name: row.name,
        role: 'admin' as const,
      }));
    }
    if (!isLocalUser(principal)) return [];
    return this.repository.listForUser(principal.userId);
  }

  /**
   * Throws unless the caller may manage the team: an admin (any team), or that team's
   * `team_admin`. Everyone else gets the 404 of a team that does not exist.
   */
  async assertCanManage(principal: Principal, teamId: string): Promise<void> {
    if (principal.roles.includes('admin')) {
      if (!(await this.repository.findById(teamId)))
        throw new DomainError('not_found', 'No such team.');
      return;
    }
    const role = isLocalUser(principal)
      ? await this.repository.roleOf(teamId, principal.userId)
      : undefined;
    if (role !== 'team_admin') throw new DomainError('not_found', 'No such team.');
  }

  async members(principal: Principal, teamId: string): Promise<MemberView[]> {
    await this.assertCanManage(principal, teamId);
    return (await this.repository.members(teamId)).map(toMemberView);
  }

  async putMember(
    principal: Principal,
    teamId: string,
    userId: string,
    role: TeamRole,
    ip?: string,
  ): Promise<MemberView> {
    await this.assertCanManage(principal, teamId);
    const user = await this.users.findById(userId);
    if (!user) throw new DomainError('not_found', 'No such user.');
    return (await this.setMember(principal, teamId, user.id, role, ip)).member;
  }

  /**
   * Adds a member (or changes their role) named by id or by username (any case), exactly one of
   * the two: team admins, who cannot list users, know their colleagues by name.
   */
  async addMember(
    principal: Principal,
    teamId: string,
    who: { userId?: string; username?: string },
    role: TeamRole,
    ip?: string,
  ): Promise<{ member: MemberView; added: boolean }> {
    if ((who.userId === undefined) === (who.username === undefined)) {
      throw new DomainError('validation_failed', 'Name the user by userId or by username.', {
        errors: [{ field: 'userId', message: 'send exactly one of userId and username' }],
      });
    }
    await this.assertCanManage(principal, teamId);
    const user =
      who.userId !== undefined
        ? await this.users.findById(who.userId)
        : await this.users.findByUsername(who.username ?? '');
    if (!user) throw new DomainError('not_found', 'No such user.');
    return this.setMember(principal, teamId, user.id, role, ip);
  }

  private async setMember(
    principal: Principal,
    teamId: string,
    userId: string,
    role: TeamRole,
    ip?: string,
  ): Promise<{ member: MemberView; added: boolean }> {
    const before = await this.repository.putMember(teamId, userId, role);
    if (before !== role) {
      await this.audit.record(before ? 'team.member_role_changed' : 'team.member_added', {
        actorId: principal.userId,
        subject: teamId,
        ip,
        details: { userId, role, ...(before ? { before } : {}) },
      });
    }
    const member = (await this.repository.members(teamId)).find((m) => m.userId === userId);
    if (!member) throw new DomainError('not_found', 'No such user.');
    return { member: toMemberView(member), added: before === undefined };
  }

  async removeMember(
    principal: Principal,
    teamId: string,
    userId: string,
    ip?: string,
  ): Promise<void> {
    await this.assertCanManage(principal, teamId);
    if (!(await this.repository.removeMember(teamId, userId)))
      throw new DomainError('not_found', 'No such member.');
    await this.audit.record('team.member_removed', {
      actorId: principal.userId,
      subject: teamId,
      ip,
      details: { userId },
    });
  }

  /**
   * Single sign-on (docs/sso.md "Teams"): makes the user's memberships of the `managed` teams
   * (every team OIDC_ROLE_MAP names) exactly `grants` (team name → role; names match
   * regardless of case). Teams the map names but no admin created are skipped and returned.
   * Memberships of other teams are left alone.
   */
  async syncMemberships(
    userId: string,
    grants: ReadonlyMap<string, TeamRole>,
    managed: readonly string[],
    actor: Actor,
  ): Promise<string[]> {
    const byName = new Map(
      (await this.repository.list()).map((row) => [row.name.toLowerCase(), row]),
    );
    const current = new Map(
      (await this.repository.listForUser(userId)).map((team) => [team.id, team.role]),
    );
    const wanted = new Map([...grants].map(([name, role]) => [name.toLowerCase(), role]));
    const missing: string[] = [];
    for (const name of new Set(managed.map((team) => team.toLowerCase()))) {
      const team = byName.get(name);
      if (!team) {
        if (wanted.has(name)) missing.push(name);
        continue;
      }
      const role = wanted.get(name);
      const base = { actorId: actor.id, subject: team.id, ip: actor.ip };
      if (role && current.get(team.id) !== role) {
        const before = await this.repository.putMember(team.id, userId, role);
        await this.audit.record(before ? 'team.member_role_changed' : 'team.member_added', {
          ...base,
          details: { userId, role, via: actor.via, ...(before ? { before } : {}) },
        });
      } else if (!role && current.has(team.id)) {
        if (await this.repository.removeMember(team.id, userId)) {
          await this.audit.record('team.member_removed', {
            ...base,
            details: { userId, via: actor.via },
          });
        }
      }
    }
    return missing;
  }

  /** Whether the user is `team_admin` of the team (creating a team key needs it). */
  async isTeamAdmin(teamId: string, userId: string): Promise<boolean> {
    return (await this.repository.roleOf(teamId, userId)) === 'team_admin';
  }

  /**
   * The team's policy for enforcement, from memory: re-read every TEAM_POLICY_CACHE_MS (on
   * this instance a change applies at once; on others within that window). Null: no team.
   */
  policy(teamId: string): Promise<TeamPolicy | null> {
    return this.cache.get(teamId, this.loadPolicy);
  }
}

/** Team names are unique: a unique violation on insert or update is a 409. */
function rethrowNameTaken(error: unknown): never {
  if (isUniqueViolation(error)) throw new DomainError('conflict', 'A team with this name exists.');
  throw error;
}

function toMemberView(row: MemberRow): MemberView {
  return {
    userId: row.userId,
    username: row.username,
    role: row.role,
    addedAt: row.addedAt.toISOString(),
  };
}
