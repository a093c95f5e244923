import { checkPasswordPolicy } from './password-policy';

describe(checkPasswordPolicy.name, () => {
  it('accepts a long uncommon passphrase', () => {
    expect(checkPasswordPolicy('tangerine-Velvet-orbit-93')).toEqual([]);
  });

  it('refuses fewer than 12 and more than 128 characters (code points)', () => {
    expect(checkPasswordPolicy('Short-pass1')[0].message).toMatch(/at least 12/);
    expect(checkPasswordPolicy('x'.repeat(129))[0].message).toMatch(/at most 128/);
    expect(checkPasswordPolicy('🔑'.repeat(12))).toEqual([]);
  });

  it('refuses common passwords, whatever their case', () => {
    expect(checkPasswordPolicy('password1234')[0].message).toMatch(/too common/);
    expect(checkPasswordPolicy('QWERTYUIOP123')[0].message).toMatch(/too common/);
  });

  it('refuses a password containing the username', () => {
    expect(checkPasswordPolicy('my-name-is-alice-ok', 'Alice')[0].message).toMatch(/username/);
  });
});
