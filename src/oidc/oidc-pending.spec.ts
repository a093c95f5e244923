import {
  MAX_PENDING_SIGN_INS,
  type OidcPending,
  PENDING_TTL_MS,
  readOidcPending,
  serializeOidcPending,
  takeLogout,
  takeSignIn,
  withLogout,
  withSignIn,
} from './oidc-pending';

const transaction = (state: string, returnTo = '/') => ({
  state,
  nonce: `nonce-${state}`,
  codeVerifier: 'v'.repeat(43),
  redirectUrl: 'https://keyward.example/api/v1/auth/oidc/callback',
  returnTo,
});
const SESSION = '0b9f0f6e-4c1e-4d0b-9a57-6c1b7f7d2a10';

describe('pending sign-ins and logout (the kw_oidc cookie value)', () => {
  const now = 1_000_000;
  /** One request's round trip: read the cookie, change it, write it back. */
  const next = (value: string | undefined, at: number, change: (p: OidcPending) => OidcPending) =>
    serializeOidcPending(change(readOidcPending(value, at)));
  const states = (value: string | undefined, at = now) =>
    readOidcPending(value, at).signIns.map((p) => p.state);

  it('keeps each sign-in for its own lifetime, newest last', () => {
    const one = next(undefined, now, (p) => withSignIn(p, transaction('a'), now));
    const two = next(one, now + 1000, (p) => withSignIn(p, transaction('b'), now + 1000));
    expect(states(two, now + 1000)).toEqual(['a', 'b']);
    // The first expires first, even though the cookie was written again after it.
    expect(states(two, now + PENDING_TTL_MS)).toEqual(['b']);
    expect(readOidcPending(two, now + PENDING_TTL_MS + 1000)).toEqual({ signIns: [] });
  });

  it('drops the oldest past the count and the size caps, never the newest', () => {
    let value: string | undefined;
    for (let i = 0; i < 6; i += 1) {
      value = next(value, now, (p) => withSignIn(p, transaction(`s${i}`), now));
    }
    expect(states(value)).toEqual(['s2', 's3', 's4', 's5'].slice(-MAX_PENDING_SIGN_INS));
    const long = `/${'x'.repeat(2000)}`;
    value = next(value, now, (p) => withSignIn(p, transaction('big', long), now));
    expect(states(value)).toEqual(['big']);
    expect(value!.length).toBeLessThan(2400);
  });

  it('reads anything else as nothing pending, and takes one sign-in by state', () => {
    for (const value of [
      undefined,
      '',
      'not json',
      'null',
      '{"endSession":"x"}',
      '{"signIns":[{"state":1}]}',
      `{"logout":{"endSession":"not-a-session-id","expiresAt":${now + 1}}}`,
      `{"logout":{"endSession":"${SESSION}"}}`,
    ]) {
      expect(readOidcPending(value, now)).toEqual({ signIns: [] });
    }
    expect(serializeOidcPending({ signIns: [] })).toBeUndefined();
    const value = next(
      next(undefined, now, (p) => withSignIn(p, transaction('a'), now)),
      now,
      (p) => withSignIn(p, transaction('b'), now),
    );
    const pending = readOidcPending(value, now);
    expect(takeSignIn(pending, 'a')).toMatchObject({
      taken: { state: 'a', nonce: 'nonce-a' },
      rest: { signIns: [{ state: 'b' }] },
    });
    expect(takeSignIn(pending, 'c')).toEqual({ taken: undefined, rest: pending });
    expect(takeSignIn(pending, null).taken).toBeUndefined();
  });

  it('keeps a logout and the sign-ins of other tabs side by side, each taken once', () => {
    const signIn = next(undefined, now, (p) => withSignIn(p, transaction('a'), now));
    const both = next(signIn, now, (p) => withLogout(p, SESSION, now));
    expect(states(both)).toEqual(['a']);
    expect(readOidcPending(both, now).logout).toEqual({
      endSession: SESSION,
      expiresAt: now + PENDING_TTL_MS,
    });
    // A sign-in started or finished elsewhere keeps the logout; the logout's end keeps them.
    const more = next(both, now, (p) => withSignIn(p, transaction('b'), now));
    expect(readOidcPending(more, now).logout?.endSession).toBe(SESSION);
    const { taken, rest } = takeLogout(readOidcPending(more, now));
    expect(taken?.endSession).toBe(SESSION);
    expect(states(serializeOidcPending(rest))).toEqual(['a', 'b']);
    expect(takeLogout(rest).taken).toBeUndefined();
    // The logout expires on its own, like a sign-in.
    expect(readOidcPending(both, now + PENDING_TTL_MS).logout).toBeUndefined();
    const onlyLogout = next(undefined, now, (p) => withLogout(p, SESSION, now));
    expect(serializeOidcPending(takeLogout(readOidcPending(onlyLogout, now)).rest)).toBeUndefined();
  });
});
