import { createHash } from 'node:crypto';

/**
 * The `user` sent upstream: a stable, one-way hash of the Keyward user id, so OpenAI can
 * attribute abuse to one end user without learning who it is
 * (https://platform.openai.com/docs/guides/safety-best-practices#end-user-ids).
 * A plain SHA-256 (not an HMAC) keeps it stable across secret rotations; user ids are
 * random UUIDs, and the domain prefix keeps the hash specific to this use.
 */
export function upstreamUserId(userId: string): string {
  return createHash('sha256').update(`keyward:upstream-user:${userId}`).digest('hex');
}
