import { Injectable } from '@nestjs/common';
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { DomainError } from '../common/domain-error';
import { addressKey } from '../limits/address-key';
import { LimiterFactory } from '../limits/limiter.factory';

/**
 * Requests a minute from one address (IPv6: one /64) to the public routes that look up a
 * session without a password check: refresh (token endpoint and cookie session), revoke and
 * cookie sign-out. A legitimate client refreshes once per access-token lifetime (10 min), so
 * 60 a minute leaves room for hundreds of users behind one NAT.
 */
export const PUBLIC_AUTH_REQUESTS_PER_MINUTE = 60;

/**
 * Bounds the database work anonymous clients can cause on the public session routes (a
 * refresh-token lookup is a query; on the embedded database it runs on the main thread).
 * Sign-in itself is limited by `LoginThrottleService`.
 */
@Injectable()
export class PublicAuthLimitService {
  private readonly limiter: RateLimiterAbstract;

  constructor(limiters: LimiterFactory) {
    this.limiter = limiters.create({
      keyPrefix: 'auth_public_ip',
      points: PUBLIC_AUTH_REQUESTS_PER_MINUTE,
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
