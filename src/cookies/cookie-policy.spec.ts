import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { consoleRoot } from '../console/console-static';
import { COOKIE_POLICY, cookieMaxAge, cookieName, cookieOptions } from './cookie-policy';

const lifetimes = { access: 600.9, refresh: 86_400.5 };

describe('COOKIE_POLICY', () => {
  it('decides each Max-Age from the entry: access for the access cookie, refresh for the others', () => {
    expect(cookieMaxAge('access', lifetimes)).toBe(600);
    expect(cookieMaxAge('refresh', lifetimes)).toBe(86_400);
    expect(cookieMaxAge('csrf', lifetimes)).toBe(86_400);
    expect(cookieOptions('access', true, lifetimes).maxAge).toBe(600);
    expect(cookieMaxAge('refresh', { access: 1, refresh: -5 })).toBe(0);
  });

  it('prefixes names only when cookies are secure', () => {
    expect(cookieName('access', true)).toBe('__Host-kw_access');
    expect(cookieName('refresh', true)).toBe('__Secure-kw_refresh');
    expect(cookieName('csrf', false)).toBe('kw_csrf');
  });

  it('keeps every cookie but the CSRF one away from page script', () => {
    const readable = Object.entries(COOKIE_POLICY).filter(([, entry]) => !entry.httpOnly);
    expect(readable.map(([role]) => role)).toEqual(['csrf']);
  });

  // The console is a static file and cannot import the policy: it must name the CSRF cookie
  // as the policy does, in both modes, or every unsafe request from it fails with 403.
  it("matches the CSRF cookie names the console's HTTP layer (public/lib.js) looks for", () => {
    const script = readFileSync(join(consoleRoot(), 'lib.js'), 'utf8');
    for (const secure of [true, false]) {
      expect(script).toContain(`'${cookieName('csrf', secure)}'`);
    }
  });
});
