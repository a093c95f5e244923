import type { FieldError } from '../common/domain-error';

type CommonPasswordList = { test(password: string): boolean };
let commonPasswordList: CommonPasswordList | undefined;

/**
 * The list (50,000 entries, ~3.5 MB of heap) loads on the first password set, not at start:
 * most processes never set one (docs/database.md "Memory and start time").
 */
function commonPasswords(): CommonPasswordList {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  commonPasswordList ??= require('fxa-common-password-list') as CommonPasswordList;
  return commonPasswordList;
}

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

/**
 * docs/reference.md "Identity": 12–128 characters (counted as Unicode code points) and not among
 * the most common passwords. The list is Mozilla's (Firefox Accounts): the 50,000 most common
 * entries of length 8+ from a 10-million-password corpus; checked case-insensitively.
 */
export function checkPasswordPolicy(password: string, username?: string): FieldError[] {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) {
    return [{ field: 'password', message: `must be at least ${PASSWORD_MIN_LENGTH} characters` }];
  }
  if (length > PASSWORD_MAX_LENGTH) {
    return [{ field: 'password', message: `must be at most ${PASSWORD_MAX_LENGTH} characters` }];
  }
  // A sign-in refuses control characters in every credential field (400), so a password
  // holding one could never be used.
  if (/\p{Cc}/u.test(password)) {
    return [{ field: 'password', message: 'must not contain control characters' }];
  }
  const lower = password.toLowerCase();
  if (commonPasswords().test(password) || commonPasswords().test(lower)) {
    return [{ field: 'password', message: 'is too common; choose a less guessable password' }];
  }
  if (username && lower.includes(username.toLowerCase())) {
    return [{ field: 'password', message: 'must not contain the username' }];
  }
  return [];
}
