import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import type { ApiKeyRow, ApiKeyScope } from '../database/schema';
import { UsersService } from '../users/users.service';
import { ApiKeysRepository } from './api-keys.repository';
import type { Principal } from './principal';
import { randomToken, sha256 } from './secure-random';

export const API_KEY_PATTERN = /^kw_[A-Za-z0-9_-]{43}$/;
/** A revoked key or a disabled owner is refused on every instance within this time. */
const CACHE_TTL_MS = 3000;
const CACHE_MAX_ENTRIES = 10_000;
/** `last_used_at` is written at most this often per key, not on every request. */
const TOUCH_INTERVAL_MS = 60_000;

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  expiresAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
}

export function toApiKeyView(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

@Injectable()
export class ApiKeysService implements OnModuleInit {
  /** Verified keys by hash: the principal, or null for a refused key (no DB hit on floods). */
  private readonly cache = new Map<string, { principal: Principal | null; until: number }>();
  private readonly touched = new Map<string, number>();
  private readonly maxSignInAgeSeconds: number;

  constructor(
    private readonly repository: ApiKeysRepository,
    private readonly audit: AuditService,
    private readonly users: UsersService,
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
      for (const row of rows) this.cache.delete(row.keyHash);
      if (rows.length) {
        await this.audit.record('api_key.revoked', {
          actorId: actor.id,
          subject: userId,
          ip: actor.ip,
          details: { reason, keys: rows.map((row) => row.id) },
        });
      }
    });
  }

  async create(
    owner: Principal,
    input: { name: string; scopes?: ApiKeyScope[]; expiresInDays?: number },
    ip?: string,
  ): Promise<ApiKeyView & { key: string }> {
    this.assertRecentSignIn(owner);
    const scopes = [...new Set(input.scopes ?? (['chat', 'usage'] as ApiKeyScope[]))];
    if (scopes.includes('admin') && !owner.roles.includes('admin')) {
      throw new DomainError('forbidden', 'Only admins can create keys with the admin scope.');
    }
    const key = `kw_${randomToken()}`;
    const expiresAt = input.expiresInDays
      ? new Date(Date.now() + input.expiresInDays * 86400_000)
      : null;
    const row = await this.repository.insert({
      userId: owner.userId,
      name: input.name,
      keyHash: sha256(key),
      prefix: key.slice(0, 10),
      scopes,
      expiresAt,
    });
    await this.audit.record('api_key.created', {
      actorId: owner.userId,
      subject: row.id,
      ip,
      details: { name: row.name, scopes },
    });
    return { ...toApiKeyView(row), key };
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
    return (await this.repository.listActiveForUser(userId)).map(toApiKeyView);
  }

  async revoke(owner: Principal, id: string, ip?: string): Promise<void> {
    const row = await this.repository.revokeOwned(owner.userId, id);
    if (!row) throw new DomainError('not_found', 'No such API key.');
    this.cache.delete(row.keyHash);
    await this.audit.record('api_key.revoked', { actorId: owner.userId, subject: row.id, ip });
  }

  /** RFC 7009 revocation of a key by its value; unknown keys are ignored. */
  async revokeByValue(key: string, ip?: string): Promise<void> {
    const hash = sha256(key);
    const row = await this.repository.revokeByHash(hash);
    this.cache.delete(hash);
    if (row)
      await this.audit.record('api_key.revoked', { actorId: row.userId, subject: row.id, ip });
  }

  /** The principal for a `kw_` key, or undefined when it is unknown, revoked or expired. */
  async authenticate(key: string): Promise<Principal | undefined> {
    if (!API_KEY_PATTERN.test(key)) return undefined;
    const hash = sha256(key);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.principal ?? undefined;
    const found = await this.repository.findWithOwnerByHash(hash);
    const valid =
      found &&
      !found.disabled &&
      !found.key.revokedAt &&
      (!found.key.expiresAt || found.key.expiresAt.getTime() > now);
    const principal: Principal | null = valid
      ? {
          userId: found.key.userId,
          username: found.username,
          roles: found.roles,
          // A key keeps `admin` only while its owner is still an admin.
          scopes: found.key.scopes.filter(
            (scope) => scope !== 'admin' || found.roles.includes('admin'),
          ),
          authMethod: 'api_key',
          apiKeyId: found.key.id,
        }
      : null;
    let until = now + CACHE_TTL_MS;
    if (valid && found.key.expiresAt) until = Math.min(until, found.key.expiresAt.getTime());
    if (this.cache.size >= CACHE_MAX_ENTRIES)
      this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(hash, { principal, until });
    if (principal?.apiKeyId) this.touch(principal.apiKeyId, now);
    return principal ?? undefined;
  }

  private touch(id: string, now: number): void {
    if ((this.touched.get(id) ?? 0) + TOUCH_INTERVAL_MS > now) return;
    this.touched.set(id, now);
    if (this.touched.size > CACHE_MAX_ENTRIES) this.touched.clear();
    // Bookkeeping only: a failed write must not fail the request.
    this.repository.touch(id, new Date(now)).catch(() => undefined);
  }
}
