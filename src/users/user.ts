import type { Role, UserRow } from '../database/schema';

/** A user as the rest of the code and the API see it: never the password hash. */
export interface User {
  readonly id: string;
  readonly username: string;
  readonly roles: readonly Role[];
  readonly disabled: boolean;
  readonly chatRpm: number | null;
  readonly chatDailyTokens: number | null;
  /** The service user of a machine client: no password sign-in, managed by /admin/clients. */
  readonly machine: boolean;
  readonly createdAt: Date;
}

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    roles: row.roles,
    disabled: row.disabled,
    chatRpm: row.chatRpm,
    chatDailyTokens: row.chatDailyTokens,
    machine: row.machine,
    createdAt: row.createdAt,
  };
}

export const USERNAME_PATTERN = /^[A-Za-z0-9_.@-]{3,64}$/;
