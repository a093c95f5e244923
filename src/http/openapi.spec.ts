import { runInNewContext } from 'node:vm';
import { cookieName } from '../cookies/cookie-policy';
import { sendCsrfToken } from './openapi';

describe(sendCsrfToken.name, () => {
  const page = globalThis as unknown as { document?: { cookie: string } };
  afterEach(() => delete page.document);

  // The interceptor runs in the browser from its source text, so it names the cookie itself:
  // these hold it to the cookie policy's names in both cookie modes.
  it.each([true, false])(
    'copies the CSRF cookie into X-CSRF-Token (secure cookies: %s)',
    (secure) => {
      page.document = { cookie: `other=1; ${cookieName('csrf', secure)}=a%2Bb%3D; x=y` };
      const request = sendCsrfToken({ method: 'post', headers: {} });
      expect(request.headers['X-CSRF-Token']).toBe('a+b=');
    },
  );

  it('leaves safe methods, a header given by hand and a page without the cookie alone', () => {
    page.document = { cookie: `${cookieName('csrf', true)}=token` };
    expect(sendCsrfToken({ method: 'GET', headers: {} }).headers).toEqual({});
    expect(
      sendCsrfToken({ method: 'DELETE', headers: { 'x-csrf-token': 'typed' } }).headers,
    ).toEqual({ 'x-csrf-token': 'typed' });
    page.document = { cookie: 'kw_csrf_other=1' };
    expect(sendCsrfToken({ method: 'POST', headers: {} }).headers).toEqual({});
  });

  it('works from its source text alone, in a context of its own (how Swagger UI gets it)', () => {
    const document = { cookie: `${cookieName('csrf', false)}=t` };
    const revived = runInNewContext(`(${sendCsrfToken.toString()})`, {
      document,
    }) as typeof sendCsrfToken;
    expect(revived({ method: 'PATCH', headers: {} }).headers['X-CSRF-Token']).toBe('t');
  });
});
