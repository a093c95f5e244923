import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

export type Role = 'admin' | 'user';
export const ROLES: readonly Role[] = ['admin', 'user'];

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    username: text('username').notNull(),
    passwordHash: text('password_hash').notNull(),
    roles: text('roles').array().$type<Role[]>().notNull().default(sql`'{user}'::text[]`),
    disabled: boolean('disabled').notNull().default(false),
    /** Per-user overrides of CHAT_RPM / CHAT_DAILY_TOKENS; null means the default. */
    chatRpm: integer('chat_rpm'),
    chatDailyTokens: integer('chat_daily_tokens'),
    /** Access tokens issued before this instant are refused (logout-all, disable, password change). */
    tokensValidAfter: timestamp('tokens_valid_after', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // Usernames are unique regardless of case, so "Alice" and "alice" are one account.
  (t) => [uniqueIndex('users_username_lower_key').on(sql`lower(${t.username})`)],
);
export type UserRow = typeof users.$inferSelect;

/** Append-only, hash-chained security log (SPEC "Audit and logs"). */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true }).notNull(),
    event: text('event').notNull(),
    actorId: uuid('actor_id'),
    subject: text('subject'),
    ip: text('ip'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [index('audit_log_at_idx').on(t.at)],
);
export type AuditRow = typeof auditLog.$inferSelect;
