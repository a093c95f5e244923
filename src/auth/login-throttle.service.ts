import { Injectable } from '@nestjs/common';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import { LimiterFactory } from '../limits/limiter.factory';

/** docs/reference.md "Identity": 5 consecutive failures for one (username, IP) lock that pair. */
export const MAX_CONSECUTIVE_FAILURES = 5;
/** And 50 failures an hour from one IP lock the IP. */
export const MAX_FAILURES_PER_IP_HOUR = 50;
const FIRST_LOCK_SECONDS = 15;
const MAX_LOCK_SECONDS = 3600;

/** The lock grows with each failure past the limit: 15 s, 30 s, 1 min, ... up to 1 h. */
export function lockSeconds(failures: number): number {
  const exponent = Math.max(0, failures - MAX_CONSECUTIVE_FAILURES);
  return Math.min(MAX_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** Math.min(exponent, 20));
}

/** Brute-force protection for every password check (token endpoint and browser login). */
@Injectable()
export class LoginThrottleService {
  private readonly failures: RateLimiterAbstract;
  private readonly locks: RateLimiterAbstract;
  private readonly ipFailures: RateLimiterAbstract;

  constructor(
    limiters: LimiterFactory,
    private readonly audit: AuditService,
  ) {
    // Consecutive failures per (username, IP); a success deletes the count.
    this.failures = limiters.create({
      keyPrefix: 'login_fail',
      points: 1_000_000,
      duration: 86400,
    });
    this.locks = limiters.create({ keyPrefix: 'login_lock', points: 1, duration: 1 });
    this.ipFailures = limiters.create({
      keyPrefix: 'login_fail_ip',
      points: MAX_FAILURES_PER_IP_HOUR,
      duration: 3600,
    });
  }

  private static pairKey(username: string, ip: string): string {
    return `${username.toLowerCase()}|${ip}`;
  }

  /** Throws 429 with Retry-After while the pair or the IP is locked; checks no password. */
  async assertAllowed(username: string, ip: string): Promise<void> {
    const [lock, ipCount] = await Promise.all([
      this.locks.get(LoginThrottleService.pairKey(username, ip)),
      this.ipFailures.get(ip),
    ]);
    const waits: number[] = [];
    if (lock && lock.consumedPoints > 1) waits.push(lock.msBeforeNext);
    if (ipCount && ipCount.consumedPoints >= MAX_FAILURES_PER_IP_HOUR)
      waits.push(ipCount.msBeforeNext);
    if (waits.length) {
      const retryAfterSeconds = Math.ceil(Math.max(...waits) / 1000);
      throw new DomainError(
        'too_many_attempts',
        `Too many failed sign-ins. Try again in ${retryAfterSeconds} s.`,
        {
          retryAfterSeconds,
        },
      );
    }
  }

  async recordFailure(username: string, ip: string): Promise<void> {
    const key = LoginThrottleService.pairKey(username, ip);
    const [count] = await Promise.all([
      this.failures.penalty(key, 1),
      this.ipFailures.penalty(ip, 1),
    ]);
    if (count.consumedPoints >= MAX_CONSECUTIVE_FAILURES) {
      const seconds = lockSeconds(count.consumedPoints);
      await this.locks.block(key, seconds);
      await this.audit.record('login.locked', {
        subject: username,
        ip,
        details: { failures: count.consumedPoints, lockSeconds: seconds },
      });
    }
  }

  async recordSuccess(username: string, ip: string): Promise<void> {
    const key = LoginThrottleService.pairKey(username, ip);
    await Promise.all([this.failures.delete(key), this.locks.delete(key)]);
  }
}
