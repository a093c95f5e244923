import { createHash, randomBytes } from 'node:crypto';

/** 256 bits of randomness, base64url (43 characters). */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * SHA-256 for refresh tokens and API keys. They are 256-bit random values, so a fast hash
 * is enough to make a database leak useless; a password hash would only add latency.
 */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
