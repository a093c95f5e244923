import type { SignInTransaction } from './oidc-client.service';

/** A sign-in in progress, and when it stops being one (ms since the epoch). */
export interface PendingSignIn extends SignInTransaction {
  readonly expiresAt: number;
}

/** What POST logout leaves for GET end-session: the ended session whose ID token to send. */
export interface PendingLogout {
  readonly endSession: string;
  readonly expiresAt: number;
}

/**
 * docs/sso.md "Several tabs": the kw_oidc cookie's (decrypted) value, everything this browser
 * has in progress. Each entry has its own expiry and is taken once by the route that finishes
 * it; the others stay (a logout in one tab keeps another tab's sign-in, and the reverse).
 */
export interface OidcPending {
  /** Newest last. */
  readonly signIns: readonly PendingSignIn[];
  readonly logout?: PendingLogout;
}

/** As long as a sign-in may take at the IdP, and a logout may wait: the cookie's own lifetime. */
export const PENDING_TTL_MS = 600_000;
/** At most this many sign-ins in progress per browser (one per tab, in practice). */
export const MAX_PENDING_SIGN_INS = 4;
/**
 * The cookie's JSON stays under this many characters, so the sealed cookie stays well under
 * the 4096 bytes browsers keep; the newest sign-in is always kept (one fits at any returnTo).
 */
const MAX_JSON_CHARS = 2400;

const FIELDS = ['state', 'nonce', 'codeVerifier', 'redirectUrl', 'returnTo'] as const;
const SESSION_ID = /^[0-9a-f-]{36}$/;
const NOTHING: OidcPending = { signIns: [] };

/** The entries of a cookie value that have not expired; anything unreadable is none. */
export function readOidcPending(value: string | undefined, now: number): OidcPending {
  if (!value) return NOTHING;
  let parsed: { signIns?: unknown; logout?: unknown } | null;
  try {
    parsed = JSON.parse(value) as typeof parsed;
  } catch {
    return NOTHING;
  }
  if (typeof parsed !== 'object' || parsed === null) return NOTHING;
  const list = Array.isArray(parsed.signIns) ? (parsed.signIns as unknown[]) : [];
  const signIns = list.filter(
    (item): item is PendingSignIn =>
      typeof item === 'object' &&
      item !== null &&
      FIELDS.every((field) => typeof (item as Record<string, unknown>)[field] === 'string') &&
      typeof (item as { expiresAt?: unknown }).expiresAt === 'number' &&
      (item as PendingSignIn).expiresAt > now,
  );
  const logout = parsed.logout as Partial<PendingLogout> | null | undefined;
  const live =
    typeof logout === 'object' &&
    logout !== null &&
    typeof logout.endSession === 'string' &&
    SESSION_ID.test(logout.endSession) &&
    typeof logout.expiresAt === 'number' &&
    logout.expiresAt > now;
  return live
    ? { signIns, logout: { endSession: logout.endSession, expiresAt: logout.expiresAt } }
    : { signIns };
}

/** After `added` starts: the newest sign-ins that fit the caps, newest last. */
export function withSignIn(
  pending: OidcPending,
  added: SignInTransaction,
  now: number,
): OidcPending {
  const kept: PendingSignIn[] = [pickFields(added, now + PENDING_TTL_MS)];
  let size = serializeOidcPending({ ...pending, signIns: kept })!.length;
  for (const older of [...pending.signIns].reverse()) {
    if (kept.length >= MAX_PENDING_SIGN_INS) break;
    const entry = pickFields(older, older.expiresAt);
    size += JSON.stringify(entry).length + 1;
    if (size > MAX_JSON_CHARS) break;
    kept.unshift(entry);
  }
  return { ...pending, signIns: kept };
}

/** After POST logout ended `sessionId`: its end-session is pending, the sign-ins stay. */
export function withLogout(pending: OidcPending, sessionId: string, now: number): OidcPending {
  return { ...pending, logout: { endSession: sessionId, expiresAt: now + PENDING_TTL_MS } };
}

/** The sign-in a callback's `state` belongs to, and the rest, which stays pending. */
export function takeSignIn(
  pending: OidcPending,
  state: string | null,
): { taken: PendingSignIn | undefined; rest: OidcPending } {
  const index = state === null ? -1 : pending.signIns.findIndex((entry) => entry.state === state);
  if (index < 0) return { taken: undefined, rest: pending };
  return {
    taken: pending.signIns[index],
    rest: { ...pending, signIns: pending.signIns.filter((_, i) => i !== index) },
  };
}

/** The pending logout (if any), and the rest, which stays pending. */
export function takeLogout(pending: OidcPending): {
  taken: PendingLogout | undefined;
  rest: OidcPending;
} {
  return { taken: pending.logout, rest: { signIns: pending.signIns } };
}

/** The cookie value for these entries; undefined when nothing is pending (clear the cookie). */
export function serializeOidcPending(pending: OidcPending): string | undefined {
  if (pending.signIns.length === 0 && !pending.logout) return undefined;
  // An absent logout is left out of the JSON (undefined).
  return JSON.stringify({ signIns: pending.signIns, logout: pending.logout });
}

function pickFields(transaction: SignInTransaction, expiresAt: number): PendingSignIn {
  return {
    state: transaction.state,
    nonce: transaction.nonce,
    codeVerifier: transaction.codeVerifier,
    redirectUrl: transaction.redirectUrl,
    returnTo: transaction.returnTo,
    expiresAt,
  };
}
