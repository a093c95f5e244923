import {
  addPendingSignIn,
  MAX_PENDING_SIGN_INS,
  readPendingSignIns,
  SIGN_IN_TTL_MS,
  takePendingSignIn,
} from './pending-sign-ins';

const transaction = (state: string, returnTo = '/') => ({
  state,
  nonce: `nonce-${state}`,
  codeVerifier: 'v'.repeat(43),
  redirectUrl: 'https://keyward.example/api/v1/auth/oidc/callback',
  returnTo,
});

describe('pending sign-ins (the kw_oidc cookie value)', () => {
  const now = 1_000_000;

  it('keeps each sign-in for its own lifetime, newest last', () => {
    const one = addPendingSignIn([], transaction('a'), now);
    const two = addPendingSignIn(readPendingSignIns(one, now), transaction('b'), now + 1000);
    expect(readPendingSignIns(two, now + 1000).map((p) => p.state)).toEqual(['a', 'b']);
    // The first expires first, even though the cookie was written again after it.
    expect(readPendingSignIns(two, now + SIGN_IN_TTL_MS).map((p) => p.state)).toEqual(['b']);
    expect(readPendingSignIns(two, now + SIGN_IN_TTL_MS + 1000)).toEqual([]);
  });

  it('drops the oldest past the count and the size caps, never the newest', () => {
    let value = '';
    for (let i = 0; i < 6; i += 1) {
      value = addPendingSignIn(readPendingSignIns(value, now), transaction(`s${i}`), now);
    }
    expect(readPendingSignIns(value, now).map((p) => p.state)).toEqual(
      ['s2', 's3', 's4', 's5'].slice(-MAX_PENDING_SIGN_INS),
    );
    const long = `/${'x'.repeat(2000)}`;
    value = addPendingSignIn(readPendingSignIns(value, now), transaction('big', long), now);
    expect(readPendingSignIns(value, now).map((p) => p.state)).toEqual(['big']);
    expect(value.length).toBeLessThan(2400);
  });

  it('reads anything else as no sign-in, and takes one by state', () => {
    for (const value of [
      undefined,
      '',
      'not json',
      'null',
      '{"endSession":"x"}',
      '{"signIns":[{"state":1}]}',
    ]) {
      expect(readPendingSignIns(value, now)).toEqual([]);
    }
    const pending = readPendingSignIns(
      addPendingSignIn(
        readPendingSignIns(addPendingSignIn([], transaction('a'), now), now),
        transaction('b'),
        now,
      ),
      now,
    );
    expect(takePendingSignIn(pending, 'a')).toMatchObject({
      taken: { state: 'a', nonce: 'nonce-a' },
      rest: [{ state: 'b' }],
    });
    expect(takePendingSignIn(pending, 'c')).toEqual({ taken: undefined, rest: pending });
    expect(takePendingSignIn(pending, null).taken).toBeUndefined();
  });
});
