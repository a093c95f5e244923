import { createHash } from 'node:crypto';

/** Hashes already computed: a user's id maps to the same value on every request. */
const cache = new Map<string, string>();
const MAX_CACHED = 10_000;

/**
 * The `user` sent upstream: a stable, one-way hash of the Keyward user id, so OpenAI can
 * attribute abuse to one end user without learning who it is
 * (https://platform.openai.com/docs/guides/safety-best-practices#end-user-ids).
 * A plain SHA-256 (not an HMAC) keeps it stable across secret rotations; user ids are
 * random UUIDs, and the domain prefix keeps the hash specific to this use.
 */
export function upstreamUserId(userId: string): string {
  let hashed = cache.get(userId);
  if (hashed === undefined) {
    hashed = createHash('sha256').update(`keyward:upstream-user:${userId}`).digest('hex');
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(userId, hashed);
  }
  return hashed;
}
