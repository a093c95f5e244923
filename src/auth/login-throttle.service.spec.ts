import type { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import { LimiterFactory } from '../limits/limiter.factory';
import type { RedisService } from '../redis/redis.service';
import {
  LoginThrottleService,
  MAX_CHECKS_IN_FLIGHT_PER_ADDRESS,
  MAX_CHECKS_IN_FLIGHT_PER_USER,
  MAX_CONSECUTIVE_FAILURES,
} from './login-throttle.service';

/** Password checks that finish only when the test says so. */
function heldChecks() {
  const releases: Array<() => void> = [];
  let started = 0;
  const check = () =>
    new Promise<undefined>((resolve) => {
      started += 1;
      releases.push(() => resolve(undefined));
    });
  return {
    check,
    started: () => started,
    releaseAll: () => releases.splice(0).forEach((r) => r()),
  };
}

function newThrottle() {
  const audited: string[] = [];
  const audit = {
    record: (event: string) => {
      audited.push(event);
      return Promise.resolve();
    },
  } as unknown as AuditService;
  // In-process counters, exactly as without REDIS_URL.
  const limiters = new LimiterFactory({ keyPrefix: '' } as RedisService);
  return { throttle: new LoginThrottleService(limiters, audit), audited };
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe(LoginThrottleService.name, () => {
  it('caps the password checks in flight for one username, across addresses', async () => {
    const { throttle } = newThrottle();
    const held = heldChecks();
    const attempts = Array.from({ length: 10 }, (_, i) =>
      refusal(throttle.judge('Alice', `198.51.100.${i}`, held.check)),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(held.started()).toBe(MAX_CHECKS_IN_FLIGHT_PER_USER);
    held.releaseAll();
    const outcomes = await Promise.all(attempts);
    const refused = outcomes.filter((error) => error instanceof DomainError);
    expect(refused).toHaveLength(10 - MAX_CHECKS_IN_FLIGHT_PER_USER);
    expect(refused[0].code).toBe('too_many_attempts');
  });

  it('caps the password checks in flight from one address, across usernames', async () => {
    const { throttle } = newThrottle();
    const held = heldChecks();
    const attempts = Array.from({ length: 20 }, (_, i) =>
      refusal(throttle.judge(`user${i}`, '2001:db8::1', held.check)),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(held.started()).toBe(MAX_CHECKS_IN_FLIGHT_PER_ADDRESS);
    held.releaseAll();
    await Promise.all(attempts);
    // The marks are released: the next check runs.
    const next = heldChecks();
    const later = throttle.judge('user99', '2001:db8::2', next.check);
    await new Promise((resolve) => setImmediate(resolve));
    expect(next.started()).toBe(1);
    next.releaseAll();
    await later;
  });

  it('gives one trial at a time past the limit, and a failed trial locks the pair', async () => {
    const { throttle, audited } = newThrottle();
    const fail = () => Promise.resolve(undefined);
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES - 1; i += 1) {
      await throttle.judge('bob', '198.51.100.1', fail);
    }
    const held = heldChecks();
    const trial = refusal(throttle.judge('bob', '198.51.100.1', held.check));
    const second = await refusal(throttle.judge('bob', '198.51.100.1', held.check));
    expect((second as DomainError).code).toBe('too_many_attempts');
    held.releaseAll();
    expect(await trial).toBeUndefined();
    expect(audited).toContain('login.locked');
    let called = false;
    const locked = await refusal(
      throttle.judge('bob', '198.51.100.1', () => {
        called = true;
        return Promise.resolve('user');
      }),
    );
    expect((locked as DomainError).code).toBe('too_many_attempts');
    expect(called).toBe(false);
  });

  it('does not count an attempt whose check failed to run (e.g. database down)', async () => {
    const { throttle } = newThrottle();
    const broken = () => Promise.reject(new Error('database down'));
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES * 2; i += 1) {
      await expect(throttle.judge('carol', '198.51.100.2', broken)).rejects.toThrow(
        'database down',
      );
    }
    await expect(
      throttle.judge('carol', '198.51.100.2', () => Promise.resolve('ok')),
    ).resolves.toBe('ok');
  });
});
