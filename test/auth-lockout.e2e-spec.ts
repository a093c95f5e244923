import request from 'supertest';
import {
  lockSeconds,
  MAX_CONSECUTIVE_FAILURES,
  MAX_FAILURES_PER_IP_HOUR,
} from '../src/auth/login-throttle.service';
import { createUser, type TestUser } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

describe('Brute-force protection', () => {
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    // The test client (loopback) plays the proxy: the client address is the right-most
    // X-Forwarded-For entry it appends, so each test can act from its own address.
    t = await createTestApp({ TRUST_PROXY: '127.0.0.1' });
    user = await createUser(t);
  });
  afterAll(() => t.close());

  const attempt = (username: string, password: string, ip: string) =>
    request(t.server)
      .post('/api/v1/auth/token')
      .set('X-Forwarded-For', ip)
      .send({ grant_type: 'password', username, password });

  it('locks a (username, IP) pair after 5 consecutive failures with a growing Retry-After', async () => {
    const ip = '198.51.100.1';
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES; i += 1)
      await attempt(user.username, 'wrong-password-000', ip).expect(400);
    const locked = await attempt(user.username, user.password, ip).expect(429);
    const first = Number(locked.headers['retry-after']);
    expect(first).toBeGreaterThan(0);
    expect(locked.body.error).toBe('too_many_attempts');
    // The right password does not unlock early, and another IP is not affected.
    await attempt(user.username, user.password, '198.51.100.2').expect(200);
    // A further attempt while locked gets no new information and an honest wait.
    const again = await attempt(user.username, 'wrong-password-000', ip).expect(429);
    expect(Number(again.headers['retry-after'])).toBeLessThanOrEqual(first);
  });

  it('grows the Retry-After over HTTP: a failure after the first lock ends locks twice as long', async () => {
    const ip = '198.51.100.6';
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES; i += 1)
      await attempt(user.username, 'wrong-password-000', ip).expect(400);
    const first = Number(
      (await attempt(user.username, user.password, ip).expect(429)).headers['retry-after'],
    );
    expect(first).toBeGreaterThan(lockSeconds(MAX_CONSECUTIVE_FAILURES) - 3);
    expect(first).toBeLessThanOrEqual(lockSeconds(MAX_CONSECUTIVE_FAILURES));
    // Wait the lock out for real (the counters may live in Redis, on its clock), then fail once more.
    await new Promise((resolve) => setTimeout(resolve, first * 1000 + 500));
    await attempt(user.username, 'wrong-password-000', ip).expect(400);
    const second = Number(
      (await attempt(user.username, user.password, ip).expect(429)).headers['retry-after'],
    );
    expect(second).toBeGreaterThan(first);
    expect(second).toBeGreaterThan(lockSeconds(MAX_CONSECUTIVE_FAILURES + 1) - 3);
    expect(second).toBeLessThanOrEqual(lockSeconds(MAX_CONSECUTIVE_FAILURES + 1));
  }, 60_000);

  it('grows the lock with each further failure', () => {
    expect(lockSeconds(5)).toBeLessThan(lockSeconds(6));
    expect(lockSeconds(6)).toBeLessThan(lockSeconds(7));
    expect(lockSeconds(100)).toBe(3600);
  });

  it('resets the count on success', async () => {
    const ip = '198.51.100.3';
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES - 1; i += 1)
      await attempt(user.username, 'wrong-password-000', ip).expect(400);
    await attempt(user.username, user.password, ip).expect(200);
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES - 1; i += 1)
      await attempt(user.username, 'wrong-password-000', ip).expect(400);
    await attempt(user.username, user.password, ip).expect(200);
  });

  it('locks an IP after 50 failures in an hour, whatever the usernames', async () => {
    const ip = '198.51.100.4';
    for (let i = 0; i < MAX_FAILURES_PER_IP_HOUR; i += 1) {
      await attempt(`spray_${i}`, 'wrong-password-000', ip).expect(400);
    }
    const res = await attempt(user.username, user.password, ip).expect(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('takes the client address from the socket, not a spoofed left-most X-Forwarded-For', async () => {
    // The trusted proxy appends the real address; the client-set left part is ignored.
    for (let i = 0; i < MAX_CONSECUTIVE_FAILURES; i += 1) {
      await attempt(user.username, 'wrong-password-000', `10.0.0.${i}, 198.51.100.5`).expect(400);
    }
    await attempt(user.username, user.password, '10.9.9.9, 198.51.100.5').expect(429);
  });
});
