import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/**
 * Signed and encrypted cookie values with an expiry inside the value and secret rotation:
 * the first secret signs and encrypts, every secret verifies and decrypts.
 *
 * Written on Node's crypto because no maintained Fastify library fits: @fastify/cookie
 * signs without expiry and cannot encrypt; @fastify/secure-session encrypts with libsodium
 * (a native add-on, XSalsa20 rather than the AES-256-GCM of docs/reference.md "Cookies") and
 * owns a whole session store. The construction is standard: HKDF-derived keys per purpose, HMAC-SHA256
 * for signing, AES-256-GCM with a random 96-bit IV and the cookie name as associated data
 * (a value cannot be moved from one cookie to another).
 */
export class CookieSealer {
  private readonly signingKeys: Buffer[];
  private readonly encryptionKeys: Buffer[];

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('CookieSealer needs at least one secret');
    const derive = (secret: string, purpose: string) =>
      Buffer.from(hkdfSync('sha256', secret, 'keyward-cookies', purpose, 32));
    this.signingKeys = secrets.map((secret) => derive(secret, 'sign'));
    this.encryptionKeys = secrets.map((secret) => derive(secret, 'encrypt'));
  }

  /** `s1.<expiry>.<value b64url>.<mac>`: readable, tamper-evident, expiring. */
  sign(name: string, value: string, ttlSeconds: number, now = Date.now()): string {
    const body = `s1.${Math.floor(now / 1000 + ttlSeconds)}.${Buffer.from(value).toString('base64url')}`;
    return `${body}.${this.mac(this.signingKeys[0], name, body)}`;
  }

  /** The value, or undefined if tampered, expired or signed by no known secret. */
  unsign(name: string, sealed: string | undefined, now = Date.now()): string | undefined {
    if (!sealed) return undefined;
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== 's1') return undefined;
    const body = parts.slice(0, 3).join('.');
    const given = Buffer.from(parts[3], 'base64url');
    const valid = this.signingKeys.some((key) => {
      const expected = Buffer.from(this.mac(key, name, body), 'base64url');
      return expected.length === given.length && timingSafeEqual(expected, given);
    });
    if (!valid || !CookieSealer.fresh(parts[1], now)) return undefined;
    return Buffer.from(parts[2], 'base64url').toString();
  }

  /** `e1.<iv>.<ciphertext+tag>`: confidential, tamper-evident, expiring. */
  encrypt(name: string, value: string, ttlSeconds: number, now = Date.now()): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encryptionKeys[0], iv);
    cipher.setAAD(Buffer.from(name));
    const plaintext = JSON.stringify({ v: value, exp: Math.floor(now / 1000 + ttlSeconds) });
    const sealed = Buffer.concat([
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return `e1.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
  }

  decrypt(name: string, sealed: string | undefined, now = Date.now()): string | undefined {
    if (!sealed) return undefined;
    const parts = sealed.split('.');
    if (parts.length !== 3 || parts[0] !== 'e1') return undefined;
    const iv = Buffer.from(parts[1], 'base64url');
    const data = Buffer.from(parts[2], 'base64url');
    if (iv.length !== 12 || data.length < 17) return undefined;
    for (const key of this.encryptionKeys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAAD(Buffer.from(name));
        decipher.setAuthTag(data.subarray(data.length - 16));
        const plaintext = Buffer.concat([
          decipher.update(data.subarray(0, data.length - 16)),
          decipher.final(),
        ]);
        const parsed = JSON.parse(plaintext.toString('utf8')) as { v?: unknown; exp?: unknown };
        if (typeof parsed.v !== 'string' || !CookieSealer.fresh(String(parsed.exp), now))
          return undefined;
        return parsed.v;
      } catch {
        // Wrong key (rotation) or tampered: try the next secret.
      }
    }
    return undefined;
  }

  /** HMAC for CSRF tokens and other short bindings, with the signing key of `secretIndex`. */
  hmac(purpose: string, data: string, secretIndex = 0): string | undefined {
    const key = this.signingKeys[secretIndex];
    return key ? this.mac(key, purpose, data) : undefined;
  }

  get secretCount(): number {
    return this.signingKeys.length;
  }

  private mac(key: Buffer, name: string, body: string): string {
    return createHmac('sha256', key).update(`${name}\n${body}`).digest('base64url');
  }

  private static fresh(expiry: string, now: number): boolean {
    const seconds = Number(expiry);
    return Number.isSafeInteger(seconds) && seconds * 1000 > now;
  }
}
