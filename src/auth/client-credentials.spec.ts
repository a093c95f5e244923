import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error';
import { readClientCredentials } from './client-credentials';

const withAuthorization = (authorization?: string) =>
  ({ headers: authorization === undefined ? {} : { authorization } }) as FastifyRequest;
const basic = (raw: string) => `Basic ${Buffer.from(raw).toString('base64')}`;

function refusal(run: () => unknown): DomainError {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a DomainError');
}

describe(readClientCredentials.name, () => {
  it('reads client_secret_basic, form-decoding both parts (RFC 6749 §2.3.1)', () => {
    expect(readClientCredentials(withAuthorization(basic('my%20client:s%3Acret+x')), {})).toEqual({
      clientId: 'my client',
      clientSecret: 's:cret x',
      method: 'client_secret_basic',
    });
    // The scheme is case-insensitive; the secret may contain further colons.
    expect(
      readClientCredentials(withAuthorization(basic('id:a:b').replace('Basic', 'bAsIc')), {}),
    ).toMatchObject({ clientId: 'id', clientSecret: 'a:b' });
  });

  it('reads client_secret_post, and nothing when neither is sent', () => {
    expect(
      readClientCredentials(withAuthorization(), { client_id: 'id', client_secret: 'secret' }),
    ).toEqual({ clientId: 'id', clientSecret: 'secret', method: 'client_secret_post' });
    expect(readClientCredentials(withAuthorization(), { client_id: 'id' })).toBeUndefined();
    expect(readClientCredentials(withAuthorization('Bearer x'), {})).toBeUndefined();
  });

  it('refuses two methods at once, or a body client_id that differs from Basic', () => {
    expect(
      refusal(() => readClientCredentials(withAuthorization(basic('id:s')), { client_secret: 's' }))
        .code,
    ).toBe('validation_failed');
    expect(
      refusal(() => readClientCredentials(withAuthorization(basic('id:s')), { client_id: 'other' }))
        .code,
    ).toBe('validation_failed');
    // The same client_id in the body is harmless.
    expect(
      readClientCredentials(withAuthorization(basic('id:s')), { client_id: 'id' }),
    ).toMatchObject({ clientId: 'id' });
  });

  it.each([
    ['not base64', 'Basic !!!'],
    ['no colon', basic('only-an-id')],
    ['an empty id', basic(':secret')],
    ['a raw control character', basic('id:se\ncret')],
    ['an encoded NUL', basic('id%00:secret')],
    ['a malformed escape', basic('id%E0%A4%A:secret')],
    ['an over-long id', basic(`${'x'.repeat(257)}:secret`)],
  ])('refuses %s as invalid_client with a Basic challenge', (_name, header) => {
    const error = refusal(() => readClientCredentials(withAuthorization(header), {}));
    expect(error.code).toBe('invalid_client');
    expect(error.options.headers?.['WWW-Authenticate']).toMatch(/^Basic /);
  });
});
