import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { isLocalUser, type Principal } from '../auth/principal';
import { ExpiringCache } from '../common/expiring-cache';
import type { KeywardConfig } from '../config/configuration';
import { UsersService } from '../users/users.service';

export interface ChatLimits {
  /** Requests per minute; 0 refuses every chat request. */
  readonly rpm: number;
  /** Tokens per UTC day; 0 refuses every chat request. */
  readonly dailyTokens: number;
}

/** Overrides are re-read this often: an admin's change applies within seconds. */
const CACHE_MS = 5_000;
const MAX_CACHED = 10_000;

/**
 * A user's chat limits: CHAT_RPM / CHAT_DAILY_TOKENS unless an admin set per-user
 * overrides (`PATCH /api/v1/admin/users/:id`). Cached briefly to keep the database off the
 * hot path, one read per user at a time (`ExpiringCache`). Principals of external issuers
 * (`issuer#sub`) have no users row: defaults.
 */
@Injectable()
export class UserLimitsService {
  private readonly defaults: ChatLimits;
  private readonly cache = new ExpiringCache<string, ChatLimits>(CACHE_MS, MAX_CACHED);
  private readonly load = async (userId: string): Promise<ChatLimits> => {
    const user = await this.users.findById(userId);
    return {
      rpm: user?.chatRpm ?? this.defaults.rpm,
      dailyTokens: user?.chatDailyTokens ?? this.defaults.dailyTokens,
    };
  };

  constructor(
    config: ConfigService<KeywardConfig, true>,
    private readonly users: UsersService,
  ) {
    const chat = config.get('chat', { infer: true });
    this.defaults = { rpm: chat.rpm, dailyTokens: chat.dailyTokens };
  }

  forPrincipal(principal: Pick<Principal, 'userId' | 'authMethod'>): Promise<ChatLimits> {
    if (!isLocalUser(principal)) return Promise.resolve(this.defaults);
    return this.cache.get(principal.userId, this.load);
  }
}
