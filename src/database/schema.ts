import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
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
    /** Null for a user created by single sign-on: no local password, password sign-in fails. */
    passwordHash: text('password_hash'),
    roles: text('roles')
      .array()
      .$type<Role[]>()
      .notNull()
      .default(sql`'{user}'::text[]`),
    disabled: boolean('disabled').notNull().default(false),
    /** Per-user overrides of CHAT_RPM / CHAT_DAILY_TOKENS; null means the default. */
    chatRpm: integer('chat_rpm'),
    chatDailyTokens: integer('chat_daily_tokens'),
    /**
     * The service user of a machine client (docs/clients.md): it owns the client's sessions,
     * usage and limits, and never signs in with a password.
     */
    machine: boolean('machine').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // Usernames are unique regardless of case, so "Alice" and "alice" are one account.
  (t) => [uniqueIndex('users_username_lower_key').on(sql`lower(${t.username})`)],
);
export type UserRow = typeof users.$inferSelect;

/**
 * Append-only, hash-chained security log (docs/reference.md "Audit and logs"). Each row's hash is an
 * HMAC keyed with AUDIT_HMAC_KEY, a secret kept outside the database (docs/audit.md).
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true }).notNull(),
    event: text('event').notNull(),
    /** A user id, or `issuer#sub` for a JWT_TRUSTED_ISSUERS principal: any actor is stored. */
    actorId: text('actor_id'),
    subject: text('subject'),
    ip: text('ip'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
    /** False only for rows written before the chain was keyed (plain SHA-256, a prefix). */
    keyed: boolean('keyed').notNull().default(true),
  },
  (t) => [index('audit_log_at_idx').on(t.at)],
);
export type AuditRow = typeof auditLog.$inferSelect;

/**
 * A login session: one refresh-token family (RFC 9700 §4.14). Access tokens carry its id
 * as `sid`; revoking the session revokes them all.
 */
export const authSessions = pgTable(
  'auth_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /**
     * `token` (OAuth2 token endpoint), `cookie` (browser session) or `client` (one
     * client_credentials grant: no refresh token, lives as long as its access token).
     */
    kind: text('kind').$type<'token' | 'cookie' | 'client'>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** When the user proved who they are (password sign-in); refreshes carry it unchanged. */
    authTime: timestamp('auth_time', { withTimezone: true }).notNull().defaultNow(),
    /** Rotation never extends a session past this instant (REFRESH_ABSOLUTE_TTL). */
    absoluteExpiresAt: timestamp('absolute_expires_at', { withTimezone: true }).notNull(),
    /** Set by the database's clock (`now()`), which every instance's revocation poll reads. */
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokeReason: text('revoke_reason'),
  },
  (t) => [
    index('auth_sessions_user_idx').on(t.userId),
    index('auth_sessions_revoked_idx').on(t.revokedAt),
    // Housekeeping deletes sessions past their absolute expiry (SessionsRepository.deleteEnded).
    index('auth_sessions_absolute_expires_idx').on(t.absoluteExpiresAt),
  ],
);
export type AuthSessionRow = typeof authSessions.$inferSelect;

/** Refresh tokens are stored only as SHA-256 hashes (they are 256-bit random values). */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => authSessions.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Idle expiry: REFRESH_IDLE_TTL after issue, capped by the session's absolute expiry. */
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    /** Set once, when the token is rotated; a second use is reuse. */
    usedAt: timestamp('used_at', { withTimezone: true }),
    /** Hash of the client (address and User-Agent) that rotated it: the reuse grace is for it alone. */
    usedBy: text('used_by'),
  },
  (t) => [
    uniqueIndex('refresh_tokens_hash_key').on(t.tokenHash),
    index('refresh_tokens_session_idx').on(t.sessionId),
  ],
);

/**
 * A team (docs/policy.md): its own limits over every call made with its keys. Null limits
 * mean "no limit"; a null `models` means every model the server offers.
 */
export const teams = pgTable(
  'teams',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    rpm: integer('rpm'),
    dailyTokens: bigint('daily_tokens', { mode: 'number' }),
    monthlyTokens: bigint('monthly_tokens', { mode: 'number' }),
    /** Budgets in nano-USD (1e-9 USD), exact integers like every cost. */
    dailyNanos: bigint('daily_nanos', { mode: 'number' }),
    monthlyNanos: bigint('monthly_nanos', { mode: 'number' }),
    models: text('models').array(),
    /** Opt-in: prompt and completion text in the request log for this team's calls. */
    logContent: boolean('log_content').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('teams_name_lower_key').on(sql`lower(${t.name})`)],
);
export type TeamRow = typeof teams.$inferSelect;

export type TeamRole = 'member' | 'team_admin';
export const TEAM_ROLES: readonly TeamRole[] = ['member', 'team_admin'];

export const teamMembers = pgTable(
  'team_members',
  {
    teamId: uuid('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: text('role').$type<TeamRole>().notNull(),
    addedAt: timestamp('added_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.teamId, t.userId] }),
    index('team_members_user_idx').on(t.userId),
  ],
);

export type ApiKeyScope = 'chat' | 'usage' | 'admin';
export const API_KEY_SCOPES: readonly ApiKeyScope[] = ['chat', 'usage', 'admin'];

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** SHA-256 of the whole key; the key itself is shown once and never stored. */
    keyHash: text('key_hash').notNull(),
    /** The first characters, so a user can tell keys apart in a list. */
    prefix: text('prefix').notNull(),
    scopes: text('scopes').array().$type<ApiKeyScope[]>().notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    /** A team-owned key: its calls belong to the team (team limits apply). */
    teamId: uuid('team_id').references(() => teams.id, { onDelete: 'set null' }),
    /** The key's own policy (docs/policy.md); null = no limit of its own / every model. */
    models: text('models').array(),
    rpm: integer('rpm'),
    dailyTokens: bigint('daily_tokens', { mode: 'number' }),
    monthlyTokens: bigint('monthly_tokens', { mode: 'number' }),
    dailyNanos: bigint('daily_nanos', { mode: 'number' }),
    monthlyNanos: bigint('monthly_nanos', { mode: 'number' }),
    /** Client address ranges (CIDR) the key is accepted from; null = anywhere. */
    allowedCidrs: text('allowed_cidrs').array(),
    /** Disabled by an admin: refused, but kept (and can be enabled again), unlike revoked. */
    disabled: boolean('disabled').notNull().default(false),
    /** After a rotation with a grace period: the old secret's hash, accepted until then. */
    previousKeyHash: text('previous_key_hash'),
    previousKeyExpiresAt: timestamp('previous_key_expires_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('api_keys_hash_key').on(t.keyHash),
    index('api_keys_user_idx').on(t.userId),
    index('api_keys_team_idx').on(t.teamId),
    index('api_keys_previous_hash_idx').on(t.previousKeyHash),
  ],
);
export type ApiKeyRow = typeof apiKeys.$inferSelect;

/**
 * Chat token usage, one row per (user, UTC day, model), incremented by an atomic upsert
 * when a request settles. `user_id` is text, not a foreign key: principals from
 * JWT_TRUSTED_ISSUERS (`issuer#sub`) have no users row but are billed all the same.
 */
export const chatUsage = pgTable(
  'chat_usage',
  {
    userId: text('user_id').notNull(),
    /** UTC calendar day, `YYYY-MM-DD`: daily budgets reset at 00:00 UTC. */
    day: date('day', { mode: 'string' }).notNull(),
    model: text('model').notNull(),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    requests: integer('requests').notNull().default(0),
    /** Of `promptTokens`, those upstream served from its prompt cache (priced lower). */
    cachedTokens: bigint('cached_tokens', { mode: 'number' }).notNull().default(0),
    /** Of `completionTokens`, the reasoning ones. */
    reasoningTokens: bigint('reasoning_tokens', { mode: 'number' }).notNull().default(0),
    /** What the tokens cost, in nano-USD (docs/pricing.md), summed exactly. */
    costNanos: bigint('cost_nanos', { mode: 'number' }).notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.day, t.model] }),
    index('chat_usage_day_idx').on(t.day),
  ],
);

/**
 * Who created each OpenAI response (`/v1/responses`). The upstream key is shared by every
 * user, so upstream would serve any id to anyone: Keyward answers 404 for an id that is not
 * the caller's own, in the path or in `previous_response_id`, and never relays it.
 */
export const responseOwners = pgTable(
  'response_owners',
  {
    responseId: text('response_id').primaryKey(),
    userId: text('user_id').notNull(),
    model: text('model').notNull(),
    /**
     * Input plus output tokens of this response: what a follow-up that names it in
     * `previous_response_id` makes the model read again, so its reservation includes them.
     */
    contextTokens: bigint('context_tokens', { mode: 'number' }).notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('response_owners_user_idx').on(t.userId)],
);

/**
 * A registered machine client (OAuth2 client_credentials, docs/clients.md). Its id is also
 * its `client_id` and the id of its service user (`users.machine`), which carries the
 * disabled flag, limits and usage, so every per-user rule applies to it unchanged.
 */
export const machineClients = pgTable('machine_clients', {
  id: uuid('id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  name: text('name').notNull(),
  /** SHA-256 of the secret: a 256-bit random value, shown once (as API keys and refresh tokens). */
  secretHash: text('secret_hash').notNull(),
  scopes: text('scopes').array().$type<ApiKeyScope[]>().notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  secretRotatedAt: timestamp('secret_rotated_at', { withTimezone: true }),
});
export type MachineClientRow = typeof machineClients.$inferSelect;

/**
 * What each key and each team spent, per UTC day: the counters key and team budgets start
 * from (monthly budgets sum the month's days) and the per-key spend owners see. `subject` is
 * `key:<id>` or `team:<id>`; incremented in the same batched write as `chat_usage`.
 */
export const policyUsage = pgTable(
  'policy_usage',
  {
    subject: text('subject').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    tokens: bigint('tokens', { mode: 'number' }).notNull().default(0),
    costNanos: bigint('cost_nanos', { mode: 'number' }).notNull().default(0),
    requests: integer('requests').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.subject, t.day] })],
);

/**
 * How far the embedded database's usage journal is applied (docs/database.md "The usage
 * journal"): `applied_seq` is the last journal record whose usage is in `chat_usage` and
 * `policy_usage`. Written in the same transaction as that usage, so a record is applied once.
 * One row per journal (`usage`); unused on PostgreSQL, which takes usage writes directly.
 */
export const journalWatermarks = pgTable('journal_watermarks', {
  journal: text('journal').primaryKey(),
  appliedSeq: bigint('applied_seq', { mode: 'number' }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The request log (docs/request-log.md): one row per upstream call, written in batches off the
 * hot path, pruned after REQUEST_LOG_DAYS. `status` is the HTTP status as text, or what ended a
 * call that had no status of its own (`client_closed`, `upstream_error`, `upstream_timeout`).
 * `content` (prompt and completion text, redacted) only for teams that log content, cleared
 * after REQUEST_LOG_CONTENT_DAYS. Ids are text, not foreign keys: the log outlives users and keys.
 */
export const requestLog = pgTable(
  'request_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    time: timestamp('time', { withTimezone: true }).notNull(),
    requestId: text('request_id').notNull(),
    userId: text('user_id').notNull(),
    keyId: text('key_id'),
    teamId: text('team_id'),
    route: text('route').notNull(),
    model: text('model').notNull(),
    status: text('status').notNull(),
    promptTokens: integer('prompt_tokens').notNull(),
    cachedTokens: integer('cached_tokens').notNull(),
    completionTokens: integer('completion_tokens').notNull(),
    reasoningTokens: integer('reasoning_tokens').notNull(),
    costNanos: bigint('cost_nanos', { mode: 'number' }).notNull(),
    keywardMs: integer('keyward_ms').notNull(),
    upstreamMs: integer('upstream_ms').notNull(),
    ttftMs: integer('ttft_ms'),
    stream: boolean('stream').notNull(),
    content: jsonb('content').$type<{ prompt: string; completion: string }>(),
  },
  (t) => [
    index('request_log_time_idx').on(t.time, t.id),
    index('request_log_user_time_idx').on(t.userId, t.time),
    index('request_log_team_time_idx').on(t.teamId, t.time),
    index('request_log_key_time_idx').on(t.keyId, t.time),
  ],
);
export type RequestLogRow = typeof requestLog.$inferSelect;

/**
 * docs/sso.md: who a single-sign-on user is at their identity provider. A user is found by
 * (issuer, subject) only, never by e-mail or username, which an IdP may reassign.
 */
export const oidcIdentities = pgTable(
  'oidc_identities',
  {
    issuer: text('issuer').notNull(),
    subject: text('subject').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.issuer, t.subject] }),
    index('oidc_identities_user_idx').on(t.userId),
  ],
);

/**
 * The ID token of a session started by single sign-on: RP-initiated logout sends it to the
 * IdP as `id_token_hint`. Gone with its session.
 */
export const oidcSessions = pgTable('oidc_sessions', {
  sessionId: uuid('session_id')
    .primaryKey()
    .references(() => authSessions.id, { onDelete: 'cascade' }),
  idToken: text('id_token').notNull(),
});
