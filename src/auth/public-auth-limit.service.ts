import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import { addressKey } from '../limits/address-key';
import { LimiterFactory } from '../limits/limiter.factory';

/**
 * Bounds the database work anonymous clients can cause on the public session routes (a
 * refresh-token lookup is a query; on the embedded database it runs on the main thread).
 * Sign-in itself is limited by `LoginThrottleService`. AUTH_PUBLIC_RPM (default 60) requests
 * a minute per address: a client refreshes once per access-token lifetime (10 min), so that
 * leaves room for hundreds of users behind one NAT.
 */
@Injectable()
export class PublicAuthLimitService {
  private readonly limiter: RateLimiterAbstract;

  constructor(limiters: LimiterFactory, config: ConfigService<KeywardConfig, true>) {
    this.limiter = limiters.create({
      keyPrefix: 'auth_public_ip',
      points: config.get('auth', { infer: true }).publicRequestsPerMinute,
      duration: 60,
    });
  }

  /** Counts one request from `ip`; 429 with Retry-After past the limit. */
  async consume(ip: string): Promise<void> {
    try {
      await this.limiter.consume(addressKey(ip), 1);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      const retryAfterSeconds = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw new DomainError(
        'rate_limited',
        `Too many requests from this address. Try again in ${retryAfterSeconds} s.`,
        { retryAfterSeconds },
      );
    }
  }
}
