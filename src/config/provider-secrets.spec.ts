import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError } from './config-error';
import { loadConfig } from './configuration';
import { loadConfigFromProviders, type SecretFetcher } from './load-config-from-providers';
import {
  environmentSecretNames,
  mergeProviderSecrets,
  parseSecretDocument,
  ProvidedSecrets,
  SecretFormatError,
} from './provider-secrets';

const secret = () => randomBytes(32).toString('base64url');

describe(mergeProviderSecrets.name, () => {
  it('takes secret variables, lists unknown keys, conflicts and non-strings separately', () => {
    const result = mergeProviderSecrets(
      {
        OPENAI_API_KEY: 'sk-a',
        JWT_SECRET: 'j',
        COOKIE_SECRETS: 'c',
        DATABASE_URL: 42,
        REDIS_URL: '',
        PORT: '8080',
        AWS_SECRET_ACCESS_KEY: 'x',
      },
      new Set(['JWT_SECRET']),
    );
    expect(result.values).toEqual({ OPENAI_API_KEY: 'sk-a', COOKIE_SECRETS: 'c' });
    expect(result.unknown).toEqual(['PORT', 'AWS_SECRET_ACCESS_KEY']);
    expect(result.conflicts).toEqual(['JWT_SECRET']);
    expect(result.invalid).toEqual(['DATABASE_URL']);
  });

  it('counts X and X_FILE (non-empty) as set by the environment', () => {
    expect(
      environmentSecretNames({
        OPENAI_API_KEY: 'k',
        JWT_SECRET_FILE: '/run/secrets/jwt',
        COOKIE_SECRETS: '',
        PORT: '1',
      }),
    ).toEqual(new Set(['OPENAI_API_KEY', 'JWT_SECRET']));
  });
});

describe(parseSecretDocument.name, () => {
  it('accepts a JSON object only, and never repeats the text in its error', () => {
    expect(parseSecretDocument('{"OPENAI_API_KEY":"sk"}')).toEqual({ OPENAI_API_KEY: 'sk' });
    for (const text of ['sk-not-json-secret', '["sk-in-array"]', 'null', '"sk-string"']) {
      let error: unknown;
      try {
        parseSecretDocument(text);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SecretFormatError);
      expect((error as Error).message).not.toContain('sk');
    }
  });
});

describe(ProvidedSecrets.name, () => {
  it('shows names, never values, when printed or serialised', () => {
    const provided = new ProvidedSecrets({ OPENAI_API_KEY: 'sk-hidden-value' });
    expect(provided.get('OPENAI_API_KEY')).toBe('sk-hidden-value');
    expect(JSON.stringify({ provided })).not.toContain('sk-hidden-value');
    expect(inspect({ provided })).not.toContain('sk-hidden-value');
    expect(inspect({ provided })).toContain('OPENAI_API_KEY');
  });
});

describe(loadConfigFromProviders.name, () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-provider-'));
  });
  const aws = (env: Record<string, string> = {}) => ({
    DATA_DIR: join(dir, 'data'),
    SECRETS_PROVIDER: 'aws',
    AWS_SECRET_ID: 'keyward/test',
    AWS_REGION: 'eu-west-1',
    ...env,
  });
  const fetcher =
    (document: Record<string, unknown>): SecretFetcher =>
    () =>
      Promise.resolve(document);
  const failure = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected a configuration error');
  };

  it('merges the AWS secret into the configuration, warning about unknown keys by name', async () => {
    const cookie = secret();
    const config = await loadConfigFromProviders(
      aws({ NODE_ENV: 'production', JWT_ALGORITHM: 'HS256' }),
      dir,
      fetcher({
        OPENAI_API_KEY: 'sk-from-aws',
        JWT_SECRET: secret(),
        COOKIE_SECRETS: cookie,
        AUDIT_HMAC_KEY: secret(),
        SOMETHING_ELSE: 'sk-unrelated-value',
      }),
    );
    expect(config.chat.apiKey).toBe('sk-from-aws');
    expect(config.cookies.secrets.length).toBe(1);
    expect(config.secrets.provided.names().sort()).toEqual([
      'AUDIT_HMAC_KEY',
      'COOKIE_SECRETS',
      'JWT_SECRET',
      'OPENAI_API_KEY',
    ]);
    expect(config.warnings).toEqual([
      'the AWS secret has a key that is not a secret variable, ignored: SOMETHING_ELSE',
    ]);
    expect(config.warnings.join()).not.toContain('sk-unrelated-value');
  });

  it('refuses a variable set both in the environment (X or X_FILE) and in the secret', async () => {
    const direct = await failure(
      loadConfigFromProviders(
        aws({ OPENAI_API_KEY: 'sk-env' }),
        dir,
        fetcher({ OPENAI_API_KEY: 'sk-aws' }),
      ),
    );
    expect(direct).toBeInstanceOf(ConfigError);
    expect(direct.message).toMatch(/^Configuration error: OPENAI_API_KEY .*AWS secret/);
    expect(direct.message).not.toMatch(/sk-env|sk-aws/);

    const file = join(dir, 'cookie');
    writeFileSync(file, secret());
    const viaFile = await failure(
      loadConfigFromProviders(
        aws({ COOKIE_SECRETS_FILE: file }),
        dir,
        fetcher({ COOKIE_SECRETS: secret() }),
      ),
    );
    expect(viaFile.message).toMatch(/^Configuration error: COOKIE_SECRETS /);
  });

  it('fails in one line naming AWS_SECRET_ID when the fetch fails, without the SDK message', async () => {
    const sdkError = Object.assign(new Error('sk-leaky service text\n    at stack'), {
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 400 },
    });
    const error = await failure(
      loadConfigFromProviders(aws(), dir, () => Promise.reject(sdkError)),
    );
    expect(error.message).toBe(
      'Configuration error: AWS_SECRET_ID could not be read from AWS Secrets Manager (ResourceNotFoundException, HTTP 400)',
    );
  });

  it('requires AWS_SECRET_ID and AWS_REGION with SECRETS_PROVIDER=aws; refresh at least 10 s', async () => {
    const fetch = fetcher({});
    expect(
      (await failure(loadConfigFromProviders(aws({ AWS_SECRET_ID: '' }), dir, fetch))).message,
    ).toMatch(/AWS_SECRET_ID is required when SECRETS_PROVIDER=aws/);
    expect(
      (await failure(loadConfigFromProviders(aws({ AWS_REGION: '' }), dir, fetch))).message,
    ).toMatch(/AWS_REGION is required/);
    expect(
      (await failure(loadConfigFromProviders(aws({ SECRETS_REFRESH_SECONDS: '5' }), dir, fetch)))
        .message,
    ).toMatch(/SECRETS_REFRESH_SECONDS/);
    const config = await loadConfigFromProviders(aws(), dir, fetch);
    expect(config.secrets.refreshSeconds).toBe(300);
  });

  it('keeps the env provider synchronous and untouched by fetchers', async () => {
    const never: SecretFetcher = () => Promise.reject(new Error('must not be called'));
    const config = await loadConfigFromProviders({ DATA_DIR: join(dir, 'data') }, dir, never);
    expect(config.secrets.provider).toBe('env');
    expect(config.secrets.provided.names()).toEqual([]);
    expect(() => loadConfig(aws(), dir)).toThrow(/SECRETS_PROVIDER/);
  });
});
