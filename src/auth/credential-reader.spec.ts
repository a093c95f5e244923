import { stringifyCookie } from 'cookie';
import type { FastifyRequest } from 'fastify';
import { COOKIE_SECTION, fakeConfig } from '../../test/support/fakes/fake-config';
import { CookieService } from '../cookies/cookie.service';
import { CredentialReader } from './credential-reader';

const KEY = `kw_${'a'.repeat(43)}`;
const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln';

/** The cookies travel as the browser sends them: one Cookie header. */
function requestWith(headers: Record<string, string>, cookies: Record<string, string> = {}) {
  const cookie = stringifyCookie(cookies);
  return { headers: cookie ? { ...headers, cookie } : headers } as unknown as FastifyRequest;
}

describe(CredentialReader.name, () => {
  const reader = () =>
    new CredentialReader(new CookieService(fakeConfig({ cookies: COOKIE_SECTION })));
  const accessCookie = { '__Host-kw_access': 'cookie.jwt.value' };

  it('takes a Bearer JWT from the Authorization header', () => {
    expect(reader().read(requestWith({ authorization: `Bearer ${JWT}` }))).toEqual({
      kind: 'jwt',
      source: 'header',
      token: JWT,
    });
  });

  it('tells an API key from a JWT by its kw_ prefix alone', () => {
    expect(reader().read(requestWith({ authorization: `bearer ${KEY}` }))).toEqual({
      kind: 'api_key',
      source: 'header',
      token: KEY,
    });
    // A malformed key is still a key: it is refused as one, never tried as a JWT.
    expect(reader().read(requestWith({ authorization: 'Bearer kw_short' }))?.kind).toBe('api_key');
  });

  it('lets the Authorization header win over the access cookie', () => {
    const credential = reader().read(requestWith({ authorization: `Bearer ${JWT}` }, accessCookie));
    expect(credential).toMatchObject({ source: 'header', token: JWT });
  });

  it('reads the access cookie only when no Authorization header is sent', () => {
    expect(reader().read(requestWith({}, accessCookie))).toEqual({
      kind: 'jwt',
      source: 'cookie',
      token: 'cookie.jwt.value',
    });
    // The unprefixed name is the COOKIE_SECURE=false cookie: not read when cookies are secure.
    expect(reader().read(requestWith({}, { kw_access: 'x' }))).toBeUndefined();
  });

  it('counts a header that is not a Bearer token as an unreadable credential, hiding the cookie', () => {
    for (const authorization of [
      '',
      'Basic dXNlcjpwYXNz',
      'Bearer',
      'Bearer a b',
      'Bearer \u0000',
    ]) {
      expect(reader().read(requestWith({ authorization }, accessCookie))).toEqual({
        kind: 'unreadable',
        source: 'header',
      });
    }
  });

  it('finds nothing on a request with neither header nor cookie', () => {
    expect(reader().read(requestWith({}))).toBeUndefined();
    expect(reader().read(requestWith({}, { '__Host-kw_access': '' }))).toBeUndefined();
  });

  it('reads each request once', () => {
    const cookies = new CookieService(fakeConfig({ cookies: COOKIE_SECTION }));
    const read = jest.spyOn(cookies, 'read');
    const credentials = new CredentialReader(cookies);
    const request = requestWith({}, accessCookie);
    expect(credentials.read(request)).toBe(credentials.read(request));
    const bare = requestWith({});
    credentials.read(bare);
    credentials.read(bare);
    expect(read).toHaveBeenCalledTimes(2);
  });
});
