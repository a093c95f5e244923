import { Injectable } from '@nestjs/common';
import { asc, eq } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import {
  type ApiKeyScope,
  type MachineClientRow,
  machineClients,
  type Role,
  users,
} from '../database/schema';

/** A machine client with the state its service user holds (disabled, roles). */
export interface MachineClient extends MachineClientRow {
  readonly disabled: boolean;
  readonly roles: Role[];
}

const WITH_USER = {
  id: machineClients.id,
  name: machineClients.name,
  secretHash: machineClients.secretHash,
  scopes: machineClients.scopes,
  createdAt: machineClients.createdAt,
  secretRotatedAt: machineClients.secretRotatedAt,
  disabled: users.disabled,
  roles: users.roles,
};

@Injectable()
export class MachineClientsRepository {
  constructor(private readonly database: DatabaseService) {}

  /**
   * The client and its service user in one transaction: a client never exists without the
   * user row its sessions, limits and usage hang on.
   */
  async insertWithServiceUser(values: {
    id: string;
    name: string;
    secretHash: string;
    scopes: ApiKeyScope[];
    roles: Role[];
  }): Promise<MachineClient> {
    return this.database.db.transaction(async (tx) => {
      const [user] = await tx
        .insert(users)
        .values({
          id: values.id,
          username: `client-${values.id}`,
          // Not a PHC string: argon2 refuses it, and verifyCredentials skips machine users anyway.
          passwordHash: '!machine-client',
          roles: values.roles,
          machine: true,
        })
        .returning();
      const [client] = await tx
        .insert(machineClients)
        .values({
          id: values.id,
          name: values.name,
          secretHash: values.secretHash,
          scopes: values.scopes,
        })
        .returning();
      return { ...client, disabled: user.disabled, roles: user.roles };
    });
  }

  async findById(id: string): Promise<MachineClient | undefined> {
    const [row] = await this.database.db
      .select(WITH_USER)
      .from(machineClients)
      .innerJoin(users, eq(users.id, machineClients.id))
      .where(eq(machineClients.id, id))
      .limit(1);
    return row;
  }

  listAll(): Promise<MachineClient[]> {
    return this.database.db
      .select(WITH_USER)
      .from(machineClients)
      .innerJoin(users, eq(users.id, machineClients.id))
      .orderBy(asc(machineClients.createdAt));
  }

  async replaceSecret(id: string, secretHash: string): Promise<boolean> {
    const rows = await this.database.db
      .update(machineClients)
      .set({ secretHash, secretRotatedAt: new Date() })
      .where(eq(machineClients.id, id))
      .returning({ id: machineClients.id });
    return rows.length > 0;
  }
}
