import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { KeywardConfig } from '../config/configuration';
import { RedisService } from '../redis/redis.service';
import { SessionsRepository } from './sessions.repository';

const REVOCATION_CHANNEL = 'revoked-sessions';

/** Every instance re-reads revocations this often: a logout holds everywhere within 5 s. */
export const REVOCATION_POLL_MS = 2000;
/**
 * Re-read a little before the last poll, for rows committed late with an earlier timestamp
 * (a transaction's `now()` is its start). Both ends are the database's clock.
 */
const POLL_OVERLAP_MS = 5000;

/**
 * In-memory denylist of revoked sessions, so checking a token costs a map lookup and no
 * database round trip. Fed by this instance's own revocations at once, by Redis pub/sub for
 * other instances' revocations (when REDIS_URL is set), and by a poll of the database that
 * compares only database timestamps (issue 14: instances' clocks may disagree). Entries live
 * as long as an access token issued before the revocation could (access TTL + clock skew).
 */
@Injectable()
export class RevocationService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RevocationService.name);
  private readonly revoked = new Map<string, number>();
  private readonly retentionMs: number;
  /** The database's clock at the previous poll (ms); undefined before the first. */
  private cursorMs?: number;
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private failing = false;

  constructor(
    private readonly sessions: SessionsRepository,
    private readonly redis: RedisService,
    config: ConfigService<KeywardConfig, true>,
  ) {
    const auth = config.get('auth', { infer: true });
    this.retentionMs = (auth.accessTokenTtl + auth.clockToleranceSeconds) * 1000;
  }

  async onModuleInit(): Promise<void> {
    await this.poll();
    // With Redis, other instances hear of a revocation at once; the poll stays as the
    // safety net (a missed message, Redis down).
    this.redis.subscribe(REVOCATION_CHANNEL, (message) => {
      const ids = message.split(',').filter((id) => /^[0-9a-f-]{36}$/.test(id));
      this.markRevoked(ids);
    });
    this.timer = setInterval(() => void this.poll(), REVOCATION_POLL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  isRevoked(sessionId: string): boolean {
    return this.revoked.has(sessionId);
  }

  /** Records this instance's own revocations and tells the other instances. */
  async revoke(sessionIds: readonly string[]): Promise<void> {
    this.markRevoked(sessionIds);
    if (sessionIds.length) await this.redis.publish(REVOCATION_CHANNEL, sessionIds.join(','));
  }

  markRevoked(sessionIds: readonly string[]): void {
    const until = Date.now() + this.retentionMs;
    for (const id of sessionIds) this.revoked.set(id, until);
  }

  /** Reads revocations made by any instance since the last poll. Never throws. */
  poll(): Promise<void> {
    this.polling ??= this.readRevocations().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async readRevocations(): Promise<void> {
    try {
      const { ids, nowMs } = await this.sessions.revokedSince(
        this.cursorMs === undefined ? undefined : this.cursorMs - POLL_OVERLAP_MS,
        this.retentionMs,
      );
      this.markRevoked(ids);
      this.cursorMs = nowMs;
      if (this.failing) this.logger.log('Revocation poll recovered');
      this.failing = false;
    } catch (error) {
      // Authentication keeps working on what this instance already knows.
      if (!this.failing) {
        this.logger.warn(
          `Revocation poll failed, using the revocations already known: ${(error as Error).message}`,
        );
      }
      this.failing = true;
    }
    const now = Date.now();
    for (const [id, until] of this.revoked) if (until < now) this.revoked.delete(id);
  }
}
