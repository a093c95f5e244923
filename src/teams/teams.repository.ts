import { Injectable } from '@nestjs/common';
import { and, asc, eq } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import { type TeamRole, type TeamRow, teamMembers, teams, users } from '../database/schema';
import type { PolicyLimitsColumns } from '../policy/policy-limits';

export interface TeamValues extends Partial<PolicyLimitsColumns> {
  name?: string;
  logContent?: boolean;
}

export interface MemberRow {
  userId: string;
  username: string;
  role: TeamRole;
  addedAt: Date;
}

@Injectable()
export class TeamsRepository {
  constructor(private readonly database: DatabaseService) {}

  async insert(values: TeamValues & { name: string }): Promise<TeamRow> {
    const [row] = await this.database.db.insert(teams).values(values).returning();
    return row;
  }

  list(): Promise<TeamRow[]> {
    return this.database.db.select().from(teams).orderBy(asc(teams.name));
  }

  async findById(id: string): Promise<TeamRow | undefined> {
    const [row] = await this.database.db.select().from(teams).where(eq(teams.id, id)).limit(1);
    return row;
  }

  async update(id: string, values: TeamValues): Promise<TeamRow | undefined> {
    if (Object.keys(values).length === 0) return this.findById(id);
    const [row] = await this.database.db
      .update(teams)
      .set(values)
      .where(eq(teams.id, id))
      .returning();
    return row;
  }

  async delete(id: string): Promise<TeamRow | undefined> {
    const [row] = await this.database.db.delete(teams).where(eq(teams.id, id)).returning();
    return row;
  }

  /** The teams a user belongs to, with the user's role in each. */
  listForUser(userId: string): Promise<Array<{ id: string; name: string; role: TeamRole }>> {
    return this.database.db
      .select({ id: teams.id, name: teams.name, role: teamMembers.role })
      .from(teamMembers)
      .innerJoin(teams, eq(teams.id, teamMembers.teamId))
      .where(eq(teamMembers.userId, userId))
      .orderBy(asc(teams.name));
  }

  async roleOf(teamId: string, userId: string): Promise<TeamRole | undefined> {
    const [row] = await this.database.db
      .select({ role: teamMembers.role })
      .from(teamMembers)
      .where(and(eq(teamMembers.teamId, teamId), eq(teamMembers.userId, userId)))
      .limit(1);
    return row?.role;
  }

  members(teamId: string): Promise<MemberRow[]> {
    return this.database.db
      .select({
        userId: teamMembers.userId,
        username: users.username,
        role: teamMembers.role,
        addedAt: teamMembers.addedAt,
      })
      .from(teamMembers)
      .innerJoin(users, eq(users.id, teamMembers.userId))
      .where(eq(teamMembers.teamId, teamId))
      .orderBy(asc(users.username));
  }

  /** Adds the member or changes their role; returns the role they had before, if any. */
  async putMember(teamId: string, userId: string, role: TeamRole): Promise<TeamRole | undefined> {
    return this.database.db.transaction(async (tx) => {
      const [before] = await tx
        .select({ role: teamMembers.role })
        .from(teamMembers)
        .where(and(eq(teamMembers.teamId, teamId), eq(teamMembers.userId, userId)))
        .for('update');
      await tx
        .insert(teamMembers)
        .values({ teamId, userId, role })
        .onConflictDoUpdate({ target: [teamMembers.teamId, teamMembers.userId], set: { role } });
      return before?.role;
    });
  }

  async removeMember(teamId: string, userId: string): Promise<boolean> {
    const rows = await this.database.db
      .delete(teamMembers)
      .where(and(eq(teamMembers.teamId, teamId), eq(teamMembers.userId, userId)))
      .returning({ userId: teamMembers.userId });
    return rows.length > 0;
  }
}
