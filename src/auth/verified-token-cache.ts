import { Injectable } from '@nestjs/common';
import type { Principal } from './principal';

/** Enough for every live session of a busy instance; ~1–2 KB an entry. */
const MAX_ENTRIES = 10_000;

/** A Keyward access token whose signature and claims were verified once. */
export interface VerifiedToken {
  /** The token's `exp`, in ms: the entry is gone from this instant on, with no clock skew. */
  readonly expiresAtMs: number;
  readonly sessionId: string;
  /** The principal as the Bearer header and as the access cookie present it. */
  readonly asBearer: Principal;
  readonly asCookie: Principal;
}

/**
 * Verified Keyward access tokens keyed by the exact token string (docs/decisions.md "JWT
 * performance": an ES256 verification is ~80 µs of CPU and dominated the guarded routes).
 *
 * What it may hold, and for how long, is what keeps it from weakening any check:
 * - only tokens that passed the whole JwtStrategy (pre-checks, signature, exp/nbf, iss,
 *   aud, claims) and were issued by Keyward itself; external issuers' tokens are never
 *   cached;
 * - an entry dies at the token's `exp` exactly: the 30 s clock-skew tolerance the first
 *   verification allowed is not extended to the cache;
 * - the key is the whole token, so any changed byte misses and goes the full way;
 * - revocation is not cached: the guard checks `RevocationService.isRevoked(sid)` on every
 *   hit, and a revoked session falls through to the full path, which refuses it.
 * Bounded by count; when full, the oldest insertion goes first. Verification keys are
 * fixed for the life of the process; a future runtime key reload must call `clear()`.
 */
@Injectable()
export class VerifiedTokenCache {
  private readonly entries = new Map<string, VerifiedToken>();
  /** Not a constructor parameter: Nest would try to inject it. */
  maxEntries = MAX_ENTRIES;

  get size(): number {
    return this.entries.size;
  }

  /** The entry for `token` if it was verified and has not reached its `exp`. */
  get(token: string, nowMs = Date.now()): VerifiedToken | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= nowMs) {
      this.entries.delete(token);
      return undefined;
    }
    return entry;
  }

  /** Remembers a token that just passed full verification. */
  remember(token: string, expSeconds: number, principal: Principal, nowMs = Date.now()): void {
    const expiresAtMs = expSeconds * 1000;
    if (!principal.sessionId || !(expiresAtMs > nowMs)) return;
    if (this.entries.has(token)) return;
    // Tokens share one lifetime, so insertion order is expiry order: drop the expired ones
    // at the front, and the cache holds about the live tokens instead of filling to the cap.
    for (const [oldToken, oldEntry] of this.entries) {
      if (oldEntry.expiresAtMs > nowMs) break;
      this.entries.delete(oldToken);
    }
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, {
      expiresAtMs,
      sessionId: principal.sessionId,
      asBearer: { ...principal, authMethod: 'jwt' },
      asCookie: { ...principal, authMethod: 'cookie' },
    });
  }

  clear(): void {
    this.entries.clear();
  }
}
