import type { SignInTransaction } from './oidc-client.service';

/** A sign-in in progress, and when it stops being one (ms since the epoch). */
export interface PendingSignIn extends SignInTransaction {
  readonly expiresAt: number;
}

/** As long as a sign-in may take at the IdP: the kw_oidc cookie's own lifetime. */
export const SIGN_IN_TTL_MS = 600_000;
/** At most this many sign-ins in progress per browser (one per tab, in practice). */
export const MAX_PENDING_SIGN_INS = 4;
/**
 * The cookie's JSON stays under this many characters, so the sealed cookie stays well under
 * the 4096 bytes browsers keep; the newest sign-in is always kept (one fits at any returnTo).
 */
const MAX_JSON_CHARS = 2400;

const FIELDS = ['state', 'nonce', 'codeVerifier', 'redirectUrl', 'returnTo'] as const;

/**
 * docs/sso.md "Several tabs": the sign-ins in progress in the kw_oidc cookie's (decrypted)
 * value, newest last, without the expired ones. Anything else (a pending logout, garbage) is
 * none.
 */
export function readPendingSignIns(value: string | undefined, now: number): PendingSignIn[] {
  if (!value) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return [];
  }
  const list = (parsed as { signIns?: unknown } | null)?.signIns;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (item): item is PendingSignIn =>
      typeof item === 'object' &&
      item !== null &&
      FIELDS.every((field) => typeof (item as Record<string, unknown>)[field] === 'string') &&
      typeof (item as { expiresAt?: unknown }).expiresAt === 'number' &&
      (item as PendingSignIn).expiresAt > now,
  );
}

/**
 * The cookie value after `added` starts: the newest sign-ins that fit the caps, newest last.
 */
export function addPendingSignIn(
  pending: readonly PendingSignIn[],
  added: SignInTransaction,
  now: number,
): string {
  const kept: PendingSignIn[] = [pickFields(added, now + SIGN_IN_TTL_MS)];
  let size = JSON.stringify({ signIns: kept }).length;
  for (const older of [...pending].reverse()) {
    if (kept.length >= MAX_PENDING_SIGN_INS) break;
    const entry = pickFields(older, older.expiresAt);
    size += JSON.stringify(entry).length + 1;
    if (size > MAX_JSON_CHARS) break;
    kept.unshift(entry);
  }
  return serializePendingSignIns(kept);
}

/** The cookie value for these sign-ins (clear the cookie instead when none is left). */
export function serializePendingSignIns(pending: readonly PendingSignIn[]): string {
  return JSON.stringify({ signIns: pending });
}

/** The sign-in a callback's `state` belongs to, and the others, which stay pending. */
export function takePendingSignIn(
  pending: readonly PendingSignIn[],
  state: string | null,
): { taken: PendingSignIn | undefined; rest: PendingSignIn[] } {
  const index = state === null ? -1 : pending.findIndex((entry) => entry.state === state);
  if (index < 0) return { taken: undefined, rest: [...pending] };
  return { taken: pending[index], rest: pending.filter((_, i) => i !== index) };
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
