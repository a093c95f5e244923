import type { Principal } from './principal';
import { principalAs, VerifiedTokenCache } from './verified-token-cache';

const principal: Principal = {
  userId: 'u1',
  username: 'alice',
  roles: ['user'],
  scopes: ['chat'],
  authMethod: 'jwt',
  sessionId: 's1',
};

describe('VerifiedTokenCache', () => {
  const now = 1_700_000_000_000;
  const exp = now / 1000 + 60;

  it('serves a verified token until its exp, and not one millisecond longer (no skew)', () => {
    const cache = new VerifiedTokenCache();
    cache.remember('t', exp, principal, now);
    expect(cache.get('t', now)?.sessionId).toBe('s1');
    expect(cache.get('t', exp * 1000 - 1)).toBeDefined();
    expect(cache.get('t', exp * 1000)).toBeUndefined();
    // Gone for good: an earlier clock does not bring it back.
    expect(cache.get('t', now)).toBeUndefined();
  });

  it('keys on the exact token string', () => {
    const cache = new VerifiedTokenCache();
    cache.remember('header.payload.sig', exp, principal, now);
    expect(cache.get('header.payload.sig ', now)).toBeUndefined();
    expect(cache.get('header.payload.siG', now)).toBeUndefined();
  });

  it('never stores an expired token or one without a session', () => {
    const cache = new VerifiedTokenCache();
    cache.remember('expired', now / 1000 - 1, principal, now);
    cache.remember('no-session', exp, { ...principal, sessionId: undefined }, now);
    expect(cache.size).toBe(0);
  });

  it('offers the principal per transport without mixing them up', () => {
    const cache = new VerifiedTokenCache();
    cache.remember('t', exp, { ...principal, authMethod: 'cookie' }, now);
    const entry = cache.get('t', now);
    if (!entry) throw new Error('expected an entry');
    expect(principalAs(entry, 'jwt')).toEqual({ ...principal, authMethod: 'jwt' });
    expect(principalAs(entry, 'cookie')).toBe(entry.principal);
  });

  it('is bounded: the oldest entry goes first', () => {
    const cache = new VerifiedTokenCache();
    cache.maxEntries = 2;
    cache.remember('a', exp, principal, now);
    cache.remember('b', exp, principal, now);
    cache.remember('c', exp, principal, now);
    expect(cache.size).toBe(2);
    expect(cache.get('a', now)).toBeUndefined();
    expect(cache.get('c', now)).toBeDefined();
  });

  it('drops expired entries as new ones arrive, so it holds about the live tokens', () => {
    const cache = new VerifiedTokenCache();
    const principal = {
      userId: 'u',
      username: 'u',
      roles: [],
      scopes: [],
      authMethod: 'jwt' as const,
      sessionId: 's',
    };
    cache.remember('a', 100, principal, 0);
    cache.remember('b', 100, principal, 0);
    expect(cache.size).toBe(2);
    cache.remember('c', 300, principal, 150_000);
    expect(cache.size).toBe(1);
    expect(cache.get('c', 150_000)).toBeDefined();
  });
});
