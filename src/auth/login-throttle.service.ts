import { Injectable } from '@nestjs/common';
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import { addressKey } from '../limits/address-key';
import { LimiterFactory } from '../limits/limiter.factory';

/** docs/reference.md "Identity": 5 consecutive failures for one (username, IP) lock that pair. */
export const MAX_CONSECUTIVE_FAILURES = 5;
/** And 50 failures an hour from one IP lock the IP. */
export const MAX_FAILURES_PER_IP_HOUR = 50;
/** Password checks (argon2, ~12 ms of a worker thread each) in flight for one username. */
export const MAX_CHECKS_IN_FLIGHT_PER_USER = 3;
/** And from one address (IPv6: one /64), whatever the usernames. */
export const MAX_CHECKS_IN_FLIGHT_PER_ADDRESS = 8;
const FIRST_LOCK_SECONDS = 15;
const MAX_LOCK_SECONDS = 3600;
/** How long an in-flight mark outlives a process that died holding it. */
const IN_FLIGHT_EXPIRY_SECONDS = 60;
const UNCAPPED = Number.MAX_SAFE_INTEGER;

/** The lock grows with each failure past the limit: 15 s, 30 s, 1 min, ... up to 1 h. */
export function lockSeconds(failures: number): number {
  const exponent = Math.max(0, failures - MAX_CONSECUTIVE_FAILURES);
  return Math.min(MAX_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** Math.min(exponent, 20));
}

/** A limiter's answer whether it granted or refused (rate-limiter-flexible rejects with it). */
async function counted(operation: Promise<RateLimiterRes>): Promise<RateLimiterRes> {
  try {
    return await operation;
  } catch (error) {
    if (error instanceof RateLimiterRes) return error;
    throw error;
  }
}

function tooMany(milliseconds: number, detail?: string): DomainError {
  const retryAfterSeconds = Math.max(1, Math.ceil(milliseconds / 1000));
  return new DomainError(
    'too_many_attempts',
    detail ?? `Too many failed sign-ins. Try again in ${retryAfterSeconds} s.`,
    { retryAfterSeconds },
  );
}

/**
 * Brute-force protection for every password check (token endpoint and browser login).
 *
 * Counters are consumed *before* the password is checked and refunded when the attempt
 * turns out not to be a failure: a check-then-count design let 60 parallel guesses all pass
 * the check while the first argon2 hashes ran. Past the limit, a pair gets one trial at a
 * time (a one-point gate), which a failure turns into the growing lock. The number of
 * checks in flight is capped per username and per address too, so parallel requests
 * cannot queue unbounded argon2 work.
 */
@Injectable()
export class LoginThrottleService {
  /** Consecutive failures per (username, address); a success deletes the count. */
  private readonly failures: RateLimiterAbstract;
  /** Past the limit: one trial at a time, blocked for `lockSeconds` after a failure. */
  private readonly trials: RateLimiterAbstract;
  private readonly addressFailures: RateLimiterAbstract;
  private readonly userInFlight: RateLimiterAbstract;
  private readonly addressInFlight: RateLimiterAbstract;

  constructor(
    limiters: LimiterFactory,
    private readonly audit: AuditService,
  ) {
    // The counters never refuse by themselves (uncapped points): each use compares.
    this.failures = limiters.create({ keyPrefix: 'login_fail', points: UNCAPPED, duration: 86400 });
    // A trial outlives a process that died during it by the first lock's length at most,
    // so the Retry-After of attempts refused meanwhile stays honest.
    this.trials = limiters.create({
      keyPrefix: 'login_lock',
      points: 1,
      duration: FIRST_LOCK_SECONDS,
    });
    this.addressFailures = limiters.create({
      keyPrefix: 'login_fail_ip',
      points: UNCAPPED,
      duration: 3600,
    });
    this.userInFlight = limiters.create({
      keyPrefix: 'login_busy_user',
      points: UNCAPPED,
      duration: IN_FLIGHT_EXPIRY_SECONDS,
    });
    this.addressInFlight = limiters.create({
      keyPrefix: 'login_busy_ip',
      points: UNCAPPED,
      duration: IN_FLIGHT_EXPIRY_SECONDS,
    });
  }

  /**
   * Runs `verify` (the password check) if the attempt may be judged, and records its
   * outcome: `undefined` from `verify` is a failure. Throws 429 (`too_many_attempts`)
   * without calling `verify` when the pair or the address is locked or busy.
   */
  async judge<T>(
    username: string,
    ip: string,
    verify: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const user = username.toLowerCase();
    const address = addressKey(ip);
    const pair = `${user}|${address}`;
    await this.enter(user, address);
    try {
      const failures = await this.admit(pair, address);
      let result: T | undefined;
      try {
        result = await verify();
      } catch (error) {
        // Not judged (e.g. the database is down): the attempt counts as nothing.
        await this.refund(pair, address);
        if (failures >= MAX_CONSECUTIVE_FAILURES) await this.trials.delete(pair);
        throw error;
      }
      if (result === undefined) await this.failed(pair, username, ip, failures);
      else await this.succeeded(pair, address);
      return result;
    } finally {
      await Promise.all([
        this.userInFlight.reward(user, 1),
        this.addressInFlight.reward(address, 1),
      ]);
    }
  }

  /** Marks the check as in flight, within the per-user and per-address caps. */
  private async enter(user: string, address: string): Promise<void> {
    const [byUser, byAddress] = await Promise.all([
      this.userInFlight.consume(user, 1),
      this.addressInFlight.consume(address, 1),
    ]);
    if (
      byUser.consumedPoints > MAX_CHECKS_IN_FLIGHT_PER_USER ||
      byAddress.consumedPoints > MAX_CHECKS_IN_FLIGHT_PER_ADDRESS
    ) {
      await Promise.all([
        this.userInFlight.reward(user, 1),
        this.addressInFlight.reward(address, 1),
      ]);
      throw tooMany(1000, 'Too many sign-ins in progress. Try again in 1 s.');
    }
  }

  /**
   * Counts the attempt as a failure in advance; refuses it if that passes a limit. Returns
   * the pair's failure count including this attempt.
   */
  private async admit(pair: string, address: string): Promise<number> {
    const [byPair, byAddress] = await Promise.all([
      this.failures.consume(pair, 1),
      this.addressFailures.consume(address, 1),
    ]);
    const failures = byPair.consumedPoints;
    if (byAddress.consumedPoints > MAX_FAILURES_PER_IP_HOUR) {
      await this.refund(pair, address);
      throw tooMany(byAddress.msBeforeNext);
    }
    if (failures >= MAX_CONSECUTIVE_FAILURES) {
      // The last allowed attempt and every later one: one at a time, none while locked.
      const trial = await counted(this.trials.consume(pair, 1));
      if (trial.consumedPoints > 1) {
        await this.refund(pair, address);
        throw tooMany(trial.msBeforeNext);
      }
    }
    return failures;
  }

  /** Gives back the points taken in advance by an attempt that was not judged. */
  private async refund(pair: string, address: string): Promise<void> {
    await Promise.all([this.failures.reward(pair, 1), this.addressFailures.reward(address, 1)]);
  }

  private async failed(pair: string, username: string, ip: string, failures: number) {
    if (failures < MAX_CONSECUTIVE_FAILURES) return;
    const seconds = lockSeconds(failures);
    await this.trials.block(pair, seconds);
    await this.audit.record('login.locked', {
      subject: username,
      ip,
      details: { failures, lockSeconds: seconds },
    });
  }

  private async succeeded(pair: string, address: string): Promise<void> {
    await Promise.all([
      this.failures.delete(pair),
      this.trials.delete(pair),
      this.addressFailures.reward(address, 1),
    ]);
  }
}
