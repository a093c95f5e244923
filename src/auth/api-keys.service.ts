import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import type { ApiKeyRow, ApiKeyScope } from '../database/schema';
import {
  addressAllowed,
  limitsColumns,
  limitsOf,
  limitsView,
  normalizeCidrs,
  type PolicyLimitsInput,
  type PolicyLimitsView,
} from '../policy/policy-limits';
import { usdFromNanos } from '../pricing/pricing.service';
import { TeamsService } from '../teams/teams.service';
import { usageSubject } from '../usage/budget-counters';
import { BudgetService } from '../usage/budget.service';
import { PolicyUsageRepository } from '../usage/policy-usage.repository';
import { utcDay } from '../usage/utc-day';
import { ExpiringCache } from '../common/expiring-cache';
import { UsersService } from '../users/users.service';
import { API_KEY_PATTERN, API_KEY_PREFIX } from './api-key-format';
import { ApiKeysRepository } from './api-keys.repository';
import type { KeyPolicy, Principal } from './principal';
import { randomToken, sha256 } from './secure-random';

/** A revoked key or a disabled owner is refused on every instance within this time. */
const CACHE_TTL_MS = 3000;
const CACHE_MAX_ENTRIES = 10_000;
/** `last_used_at` is written at most this often per key, not on every request. */
const TOUCH_INTERVAL_MS = 60_000;

export interface KeySpend {
  todayTokens: number;
  monthTokens: number;
  todayUsd: number;
  monthUsd: number;
}

export interface ApiKeyView extends PolicyLimitsView {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  teamId: string | null;
  allowedCidrs: string[] | null;
  disabled: boolean;
  expiresAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
  /** Today's and this month's (UTC) spend, from the counters the key's budgets use. */
  spend: KeySpend;
}

export interface AdminApiKeyView extends ApiKeyView {
  userId: string;
  username: string;
}

export interface CreateKeyInput extends PolicyLimitsInput {
  name: string;
  scopes?: ApiKeyScope[];
  expiresInDays?: number;
  expiresAt?: string;
  teamId?: string;
  allowedCidrs?: string[] | null;
}

/** What PATCH may change on a key (admins may also send `disabled`). */
export interface UpdateKeyInput extends PolicyLimitsInput {
  name?: string;
  allowedCidrs?: string[] | null;
  disabled?: boolean;
}

const UPDATABLE_FIELDS = [
  'name',
  'models',
  'rpm',
  'dailyTokens',
  'monthlyTokens',
  'dailyUsd',
  'monthlyUsd',
  'allowedCidrs',
] as const satisfies ReadonlyArray<keyof UpdateKeyInput>;

/** Who changes a key, by the route they came through. */
export type KeyEditor = { by: 'owner' } | { by: 'team_admin'; teamId: string } | { by: 'admin' };

const NO_SPEND: KeySpend = { todayTokens: 0, monthTokens: 0, todayUsd: 0, monthUsd: 0 };

export function toApiKeyView(row: ApiKeyRow, spend: KeySpend = NO_SPEND): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    teamId: row.teamId,
    ...limitsView(row),
    allowedCidrs: row.allowedCidrs,
    disabled: row.disabled,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    spend,
  };
}

/** A cached key lookup: its principal (null: refused) and when it must be read again. */
interface KeyVerdict {
  readonly principal: Principal | null;
  readonly until: number;
}

function keyPolicyOf(row: ApiKeyRow): KeyPolicy {
  return { name: row.name, ...limitsOf(row), allowedCidrs: row.allowedCidrs };
}

@Injectable()
export class ApiKeysService implements OnModuleInit {
  /**
   * Verified keys by hash: the principal, or null for a refused key (no DB hit on floods); one
   * database read per key at a time, however many requests miss together.
   */
  private readonly cache = new ExpiringCache<string, KeyVerdict>(
    CACHE_TTL_MS,
    CACHE_MAX_ENTRIES,
    (verdict) => verdict.until,
  );
  /** `lookup` bound once: `verify` runs per request and passes it on a miss. */
  private readonly load = (hash: string): Promise<KeyVerdict> => this.lookup(hash);
  private readonly touched = new Map<string, number>();
  private readonly maxSignInAgeSeconds: number;

  constructor(
    private readonly repository: ApiKeysRepository,
    private readonly audit: AuditService,
    private readonly users: UsersService,
    private readonly teams: TeamsService,
    private readonly budget: BudgetService,
    private readonly policyUsage: PolicyUsageRepository,
    config: ConfigService<KeywardConfig, true>,
  ) {
    this.maxSignInAgeSeconds = config.get('auth', { infer: true }).apiKeyMaxSignInAge;
  }

  onModuleInit(): void {
    // A password reset ends the user's keys too: whoever knew the old password may have
    // minted one, and a key outlives every session.
    this.users.onCredentialsEnded(async ({ userId, reason, endKeys, actor }) => {
      if (!endKeys) return;
      const rows = await this.repository.revokeAllForUser(userId);
      for (const row of rows) this.forget(row);
      if (rows.length) {
        await this.audit.record('api_key.revoked', {
          actorId: actor.id,
          subject: userId,
          ip: actor.ip,
          details: { reason, keys: rows.map((row) => row.id) },
        });
      }
    });
    // A deleted team's keys are revoked (kept as history): no key outlives its team's limits.
    this.teams.onTeamDeleted(async (teamId, actor) => {
      const rows = await this.repository.revokeAllForTeam(teamId);
      for (const row of rows) this.forget(row);
      if (rows.length) {
        await this.audit.record('api_key.revoked', {
          actorId: actor.id,
          subject: teamId,
          ip: actor.ip,
          details: { reason: 'team_deleted', keys: rows.map((row) => row.id) },
        });
      }
    });
  }

  /** Drops a key's cached verdicts (current and previous secret) on this instance. */
  private forget(row: ApiKeyRow): void {
    this.cache.delete(row.keyHash);
    if (row.previousKeyHash) this.cache.delete(row.previousKeyHash);
  }

  async create(
    owner: Principal,
    input: CreateKeyInput,
    ip?: string,
  ): Promise<ApiKeyView & { key: string }> {
    this.assertRecentSignIn(owner);
    const scopes = [...new Set(input.scopes ?? (['chat', 'usage'] as ApiKeyScope[]))];
    if (scopes.includes('admin') && !owner.roles.includes('admin')) {
      throw new DomainError('forbidden', 'Only admins can create keys with the admin scope.');
    }
    // A team key needs an admin or that team's team_admin; anyone else: the team is not found.
    if (input.teamId !== undefined) await this.teams.assertCanManage(owner, input.teamId);
    const allowedCidrs =
      input.allowedCidrs === undefined || input.allowedCidrs === null
        ? null
        : normalizeCidrs(input.allowedCidrs);
    const expiresAt = this.expiryOf(input);
    const key = `${API_KEY_PREFIX}${randomToken()}`;
    const row = await this.repository.insert({
      userId: owner.userId,
      name: input.name,
      keyHash: sha256(key),
      prefix: key.slice(0, 10),
      scopes,
      expiresAt,
      teamId: input.teamId ?? null,
      allowedCidrs,
      ...limitsColumns(input),
    });
    const view = toApiKeyView(row);
    await this.audit.record('api_key.created', {
      actorId: owner.userId,
      subject: row.id,
      ip,
      details: { name: row.name, scopes, ...policyDetails(view) },
    });
    return { ...view, key };
  }

  private expiryOf(input: CreateKeyInput): Date | null {
    if (input.expiresAt !== undefined) {
      const at = new Date(input.expiresAt);
      if (Number.isNaN(at.getTime()) || at.getTime() <= Date.now())
        throw new DomainError('validation_failed', 'expiresAt must be a date-time in the future.', {
          errors: [{ field: 'expiresAt', message: 'must be an ISO 8601 date-time in the future' }],
        });
      return at;
    }
    return input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86400_000) : null;
  }

  /**
   * A key never expires unless asked to and outlives logout-all, so minting one needs a
   * sign-in (`auth_time`, carried unchanged through refreshes) of the last few minutes, not
   * merely a live session: a stolen cookie or a days-old refreshed session cannot.
   */
  private assertRecentSignIn(owner: Principal): void {
    const age = owner.authTime === undefined ? Infinity : Date.now() / 1000 - owner.authTime;
    if (age > this.maxSignInAgeSeconds) {
      throw new DomainError(
        'recent_sign_in_required',
        `Creating an API key needs a sign-in of the last ${Math.round(this.maxSignInAgeSeconds / 60)} minutes; sign in again with your password, then retry.`,
      );
    }
  }

  async list(userId: string): Promise<ApiKeyView[]> {
    return this.withSpend(await this.repository.listActiveForUser(userId));
  }

  /** Active keys of any user or team, with their owner (admins). */
  async listAll(filter: { userId?: string; teamId?: string }): Promise<AdminApiKeyView[]> {
    const rows = await this.repository.listActive(filter);
    const views = await this.withSpend(rows.map((row) => row.key));
    return views.map((view, index) => ({
      ...view,
      userId: rows[index].key.userId,
      username: rows[index].username,
    }));
  }

  /** A team's active keys (team admins of that team, admins). */
  async listForTeam(principal: Principal, teamId: string): Promise<AdminApiKeyView[]> {
    await this.teams.assertCanManage(principal, teamId);
    return this.listAll({ teamId });
  }

  /**
   * Spend per key from `policy_usage`, the table key budgets start from, after writing what
   * this instance still has pending (read-your-writes, as the usage reports).
   */
  private async withSpend(rows: ApiKeyRow[]): Promise<ApiKeyView[]> {
    await this.budget.flush();
    const spend = await this.policyUsage.spend(
      rows.map((row) => usageSubject('key', row.id)),
      utcDay(),
    );
    return rows.map((row) => {
      const totals = spend.get(usageSubject('key', row.id));
      return toApiKeyView(
        row,
        totals
          ? {
              todayTokens: totals.todayTokens,
              monthTokens: totals.monthTokens,
              todayUsd: usdFromNanos(totals.todayNanos),
              monthUsd: usdFromNanos(totals.monthNanos),
            }
          : NO_SPEND,
      );
    });
  }

  async revoke(owner: Principal, id: string, ip?: string): Promise<void> {
    const row = await this.repository.revokeOwned(owner.userId, id);
    if (!row) throw new DomainError('not_found', 'No such API key.');
    this.forget(row);
    await this.audit.record('api_key.revoked', { actorId: owner.userId, subject: row.id, ip });
  }

  /** Revokes any key (admins), or a key of `teamId` (that team's admins). */
  async revokeAny(actor: Principal, id: string, teamId?: string, ip?: string): Promise<void> {
    if (teamId !== undefined) await this.teams.assertCanManage(actor, teamId);
    const row = await this.repository.revokeById(id, teamId);
    if (!row) throw new DomainError('not_found', 'No such API key.');
    this.forget(row);
    await this.audit.record('api_key.revoked', {
      actorId: actor.userId,
      subject: row.id,
      ip,
      details: { by: teamId === undefined ? 'admin' : 'team_admin', owner: row.userId },
    });
  }

  /**
   * Changes a key's name, limits or address ranges (docs/policy.md "Changing a key"), validated
   * as at creation, and (admins only) disables or enables it. Whose keys: the owner's own (a
   * team key only while they may manage its team: its limits are the team's to set), a team's
   * keys for that team's admins (404 for anyone else, as every team route), any key for
   * admins. Applies at once on this instance and within the key cache's 3 s on the others.
   */
  async updateOwn(
    principal: Principal,
    id: string,
    input: UpdateKeyInput,
    ip?: string,
  ): Promise<ApiKeyView> {
    return (await this.change(principal, id, input, { by: 'owner' }, ip)).view;
  }

  /** As `updateOwn`, through a team's key routes or the admin's: the view names the owner. */
  async updateAny(
    principal: Principal,
    id: string,
    input: UpdateKeyInput,
    editor: Exclude<KeyEditor, { by: 'owner' }>,
    ip?: string,
  ): Promise<AdminApiKeyView> {
    const { row, view } = await this.change(principal, id, input, editor, ip);
    const owner = await this.users.findById(row.userId);
    return { ...view, userId: row.userId, username: owner?.username ?? '' };
  }

  private async change(
    principal: Principal,
    id: string,
    input: UpdateKeyInput,
    editor: KeyEditor,
    ip?: string,
  ): Promise<{ row: ApiKeyRow; view: ApiKeyView }> {
    if (editor.by === 'team_admin') await this.teams.assertCanManage(principal, editor.teamId);
    const current = await this.repository.findActive(id);
    if (
      !current ||
      (editor.by === 'owner' && current.userId !== principal.userId) ||
      (editor.by === 'team_admin' && current.teamId !== editor.teamId)
    )
      throw new DomainError('not_found', 'No such API key.');
    if (
      editor.by === 'owner' &&
      current.teamId !== null &&
      !principal.roles.includes('admin') &&
      !(await this.teams.isTeamAdmin(current.teamId, principal.userId))
    ) {
      throw new DomainError(
        'forbidden',
        "A team key's limits are the team's to set: only the team's admins (or an admin) may change them.",
      );
    }
    const { disabled, ...policy } = input;
    if (disabled !== undefined && editor.by !== 'admin')
      throw new DomainError('forbidden', 'Only admins can disable or enable a key.');
    const values = {
      ...(policy.name !== undefined ? { name: policy.name } : {}),
      ...(policy.allowedCidrs !== undefined
        ? {
            allowedCidrs: policy.allowedCidrs === null ? null : normalizeCidrs(policy.allowedCidrs),
          }
        : {}),
      ...limitsColumns(policy),
    };
    const changed = (Object.keys(policy) as Array<keyof typeof policy>).filter(
      (field) => policy[field] !== undefined,
    );
    if (changed.length === 0 && disabled === undefined) {
      throw new DomainError('validation_failed', 'Nothing to change.', {
        errors: [
          {
            field: 'body',
            message: `send at least one of ${[...UPDATABLE_FIELDS, ...(editor.by === 'admin' ? ['disabled'] : [])].join(', ')}`,
          },
        ],
      });
    }
    const row = await this.repository.update(
      id,
      { ...values, ...(disabled !== undefined ? { disabled } : {}) },
      editor.by === 'team_admin' ? editor.teamId : undefined,
    );
    if (!row) throw new DomainError('not_found', 'No such API key.');
    this.forget(row);
    const [view] = await this.withSpend([row]);
    if (changed.length > 0) {
      await this.audit.record('api_key.updated', {
        actorId: principal.userId,
        subject: row.id,
        ip,
        details: {
          by: editor.by,
          owner: row.userId,
          // What the key now has, as stored (ranges normalized, models deduplicated).
          changes: Object.fromEntries(changed.map((field) => [field, view[field]])),
        },
      });
    }
    if (disabled !== undefined && disabled !== current.disabled) {
      await this.audit.record(disabled ? 'api_key.disabled' : 'api_key.enabled', {
        actorId: principal.userId,
        subject: row.id,
        ip,
      });
    }
    return { row, view };
  }

  /**
   * A new secret for the same key (id, policy, spend and history stay). The old secret is
   * refused at once, or after `graceSeconds` when given. The owner, or an admin of the key's
   * team, may rotate; a recent sign-in is needed, as for creating a key.
   */
  async rotate(
    principal: Principal,
    id: string,
    graceSeconds: number | undefined,
    ip?: string,
  ): Promise<ApiKeyView & { key: string }> {
    this.assertRecentSignIn(principal);
    const current = await this.repository.findActive(id);
    const allowed =
      current &&
      (current.userId === principal.userId ||
        (current.teamId !== null &&
          (await this.teams.isTeamAdmin(current.teamId, principal.userId))));
    if (!current || !allowed) throw new DomainError('not_found', 'No such API key.');
    const key = `${API_KEY_PREFIX}${randomToken()}`;
    const grace = graceSeconds ?? 0;
    const row = await this.repository.rotate(id, {
      keyHash: sha256(key),
      prefix: key.slice(0, 10),
      previousKeyHash: grace > 0 ? current.keyHash : null,
      previousKeyExpiresAt: grace > 0 ? new Date(Date.now() + grace * 1000) : null,
    });
    if (!row) throw new DomainError('not_found', 'No such API key.');
    this.forget(current);
    this.forget(row);
    await this.audit.record('api_key.rotated', {
      actorId: principal.userId,
      subject: row.id,
      ip,
      details: { graceSeconds: grace },
    });
    const [view] = await this.withSpend([row]);
    return { ...view, key };
  }

  /** RFC 7009 revocation of a key by its value; unknown keys are ignored. */
  async revokeByValue(key: string, ip?: string): Promise<void> {
    const hash = sha256(key);
    const row = await this.repository.revokeByHash(hash);
    this.cache.delete(hash);
    if (!row) return;
    this.forget(row);
    await this.audit.record('api_key.revoked', { actorId: row.userId, subject: row.id, ip });
  }

  /**
   * The principal for a `kw_` key, or undefined when it is unknown, revoked, disabled or
   * expired. A valid key used from outside its `allowedCidrs` is a 403: the key is good, the
   * place is not (told apart from the 401 of a bad key on purpose).
   */
  async authenticate(key: string, ip?: string): Promise<Principal | undefined> {
    const principal = await this.verify(key);
    const cidrs = principal?.keyPolicy?.allowedCidrs;
    if (cidrs && !addressAllowed(ip, cidrs)) {
      throw new DomainError(
        'forbidden',
        'This API key is valid but not allowed from your address (allowedCidrs).',
      );
    }
    return principal;
  }

  private async verify(key: string): Promise<Principal | undefined> {
    if (!API_KEY_PATTERN.test(key)) return undefined;
    const { principal } = await this.cache.get(sha256(key), this.load);
    return principal ?? undefined;
  }

  /** A key's verdict from the database, with how long it may be cached. */
  private async lookup(hash: string): Promise<KeyVerdict> {
    const now = Date.now();
    const found = await this.repository.findWithOwnerByHash(hash, new Date(now));
    const valid =
      found &&
      !found.disabled &&
      !found.key.disabled &&
      !found.key.revokedAt &&
      (!found.key.expiresAt || found.key.expiresAt.getTime() > now);
    if (!valid) return { principal: null, until: Infinity };
    const principal: Principal = {
      userId: found.key.userId,
      username: found.username,
      roles: found.roles,
      // A key keeps `admin` only while its owner is still an admin.
      scopes: found.key.scopes.filter(
        (scope) => scope !== 'admin' || found.roles.includes('admin'),
      ),
      authMethod: 'api_key',
      apiKeyId: found.key.id,
      ...(found.key.teamId ? { teamId: found.key.teamId } : {}),
      keyPolicy: keyPolicyOf(found.key),
    };
    let until = found.key.expiresAt?.getTime() ?? Infinity;
    // An old secret in its rotation grace: cached no longer than the grace lasts.
    if (found.key.keyHash !== hash && found.key.previousKeyExpiresAt)
      until = Math.min(until, found.key.previousKeyExpiresAt.getTime());
    this.touch(found.key.id, now);
    return { principal, until };
  }

  private touch(id: string, now: number): void {
    if ((this.touched.get(id) ?? 0) + TOUCH_INTERVAL_MS > now) return;
    this.touched.set(id, now);
    if (this.touched.size > CACHE_MAX_ENTRIES) this.touched.clear();
    // Bookkeeping only: a failed write must not fail the request.
    this.repository.touch(id, new Date(now)).catch(() => undefined);
  }
}

/** The policy fields worth an audit line (what the key may do). */
function policyDetails(view: ApiKeyView): Record<string, unknown> {
  return {
    teamId: view.teamId,
    models: view.models,
    rpm: view.rpm,
    dailyTokens: view.dailyTokens,
    monthlyTokens: view.monthlyTokens,
    dailyUsd: view.dailyUsd,
    monthlyUsd: view.monthlyUsd,
    allowedCidrs: view.allowedCidrs,
    expiresAt: view.expiresAt,
  };
}
