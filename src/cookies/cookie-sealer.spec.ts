import { CookieSealer } from './cookie-sealer';

const OLD = 'old-cookie-secret-0123456789abcdef0123';
const NEW = 'new-cookie-secret-0123456789abcdef0123';
const now = 1_800_000_000_000;

/** Changes one character in the middle of the sealed value's last part. */
function tamper(sealed: string): string {
  const at = sealed.length - 5;
  return `${sealed.slice(0, at)}${sealed[at] === 'A' ? 'B' : 'A'}${sealed.slice(at + 1)}`;
}

describe(CookieSealer.name, () => {
  describe.each([
    ['signed', 'sign', 'unsign'],
    ['encrypted', 'encrypt', 'decrypt'],
  ] as const)('%s values', (_kind, seal, open) => {
    it('round-trips until the expiry inside the value, then reads as absent', () => {
      const sealer = new CookieSealer([NEW]);
      const sealed = sealer[seal]('kw_x', 'hello', 60, now);
      expect(sealer[open]('kw_x', sealed, now + 59_000)).toBe('hello');
      expect(sealer[open]('kw_x', sealed, now + 60_000)).toBeUndefined();
    });

    it('reads a tampered value as absent, never throwing', () => {
      const sealer = new CookieSealer([NEW]);
      const sealed = sealer[seal]('kw_x', 'hello', 60, now);
      expect(sealer[open]('kw_x', tamper(sealed), now)).toBeUndefined();
      for (const junk of ['', '.', 'e1..', 's1.1.2.3', '\u0000', 'x'.repeat(5000)]) {
        expect(sealer[open]('kw_x', junk, now)).toBeUndefined();
      }
    });

    it('binds the value to its cookie name: it cannot be moved to another cookie', () => {
      const sealer = new CookieSealer([NEW]);
      const sealed = sealer[seal]('kw_refresh', 'hello', 60, now);
      expect(sealer[open]('kw_other', sealed, now)).toBeUndefined();
    });

    it('rotates: a new first secret seals, the old one still opens what it sealed', () => {
      const before = new CookieSealer([OLD]);
      const rotated = new CookieSealer([NEW, OLD]);
      const retired = new CookieSealer([NEW]);
      const oldValue = before[seal]('kw_x', 'old', 60, now);
      expect(rotated[open]('kw_x', oldValue, now)).toBe('old');
      // Sealed with the new secret: an instance that only knows the old one cannot read it.
      expect(before[open]('kw_x', rotated[seal]('kw_x', 'new', 60, now), now)).toBeUndefined();
      // Once the old secret is dropped, its values are gone.
      expect(retired[open]('kw_x', oldValue, now)).toBeUndefined();
    });
  });

  it('keeps encrypted values confidential: the plaintext is not in the cookie', () => {
    const sealed = new CookieSealer([NEW]).encrypt('kw_x', 'refresh-token-value', 60, now);
    expect(sealed).not.toContain('refresh-token-value');
    expect(sealed).not.toContain(Buffer.from('refresh-token-value').toString('base64url'));
  });

  it('offers an HMAC per secret for rotation-aware bindings (CSRF)', () => {
    const sealer = new CookieSealer([NEW, OLD]);
    expect(sealer.secretCount).toBe(2);
    expect(sealer.hmac('csrf', 'sid.nonce', 1)).toBe(
      new CookieSealer([OLD]).hmac('csrf', 'sid.nonce'),
    );
    expect(sealer.hmac('csrf', 'sid.nonce', 0)).not.toBe(sealer.hmac('csrf', 'sid.nonce', 1));
    expect(sealer.hmac('csrf', 'sid.nonce', 2)).toBeUndefined();
  });

  it('refuses to start without a secret', () => {
    expect(() => new CookieSealer([])).toThrow(/at least one secret/);
  });
});
