import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './config-error';
import { loadConfig } from './configuration';

const pem = () =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ format: 'pem', type: 'pkcs8' })
    .toString();
const secret = () => randomBytes(32).toString('base64url');

describe(loadConfig.name, () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-config-'));
  });

  const load = (env: Record<string, string>) =>
    loadConfig({ DATA_DIR: join(dir, 'data'), ...env }, dir);
  const failure = (env: Record<string, string>) => {
    try {
      load(env);
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected a configuration error');
  };

  it('starts on embedded defaults in development, generating secrets once with mode 0600', () => {
    const first = load({});
    expect(first.app).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      production: false,
      swaggerEnabled: true,
    });
    expect(first.auth).toMatchObject({
      issuer: 'keyward',
      audience: 'keyward-api',
      accessTokenTtl: 600,
    });
    expect(first.auth.refreshIdleTtl).toBe(86400);
    expect(first.auth.refreshAbsoluteTtl).toBe(14 * 86400);
    expect(first.generatedSecrets).toHaveLength(3);
    for (const path of first.generatedSecrets) expect(statSync(path).mode & 0o777).toBe(0o600);
    const second = load({});
    expect(second.generatedSecrets).toHaveLength(0);
    expect(second.auth.keys.signing.kid).toBe(first.auth.keys.signing.kid);
    expect(second.cookies.secrets).toEqual(first.cookies.secrets);
  });

  it('refuses to start in production without a signing key, naming the variable in one line', () => {
    const error = failure({ NODE_ENV: 'production', COOKIE_SECRETS: secret() });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/^Configuration error: JWT_SIGNING_KEYS .*production$/);
    expect(error.message).not.toContain('\n');
  });

  it('refuses to start in production without cookie secrets, or with COOKIE_SECURE=false', () => {
    expect(failure({ NODE_ENV: 'production', JWT_SIGNING_KEYS: pem() }).message).toMatch(
      /COOKIE_SECRETS/,
    );
    expect(
      failure({
        NODE_ENV: 'production',
        JWT_SIGNING_KEYS: pem(),
        COOKIE_SECRETS: secret(),
        AUDIT_HMAC_KEY: secret(),
        COOKIE_SECURE: 'false',
      }).message,
    ).toMatch(/COOKIE_SECURE/);
  });

  it('starts in production with real secrets, Swagger off by default', () => {
    const config = load({
      NODE_ENV: 'production',
      JWT_SIGNING_KEYS: pem(),
      COOKIE_SECRETS: secret(),
      AUDIT_HMAC_KEY: secret(),
    });
    expect(config.app.swaggerEnabled).toBe(false);
    expect(config.generatedSecrets).toEqual([]);
  });

  it('refuses to start in production without AUDIT_HMAC_KEY, and a short one anywhere', () => {
    const production = {
      NODE_ENV: 'production',
      JWT_SIGNING_KEYS: pem(),
      COOKIE_SECRETS: secret(),
    };
    expect(failure(production).message).toMatch(
      /^Configuration error: AUDIT_HMAC_KEY \(or AUDIT_HMAC_KEY_FILE\) is required in production$/,
    );
    expect(failure({ AUDIT_HMAC_KEY: 'too-short' }).message).toMatch(
      /AUDIT_HMAC_KEY must be at least 32 bytes/,
    );
  });

  it('refuses an HS256 secret shorter than 32 bytes without echoing it', () => {
    const error = failure({ JWT_ALGORITHM: 'HS256', JWT_SECRET: 'short-secret-value' });
    expect(error.message).toMatch(/JWT_SECRET must be at least 32 bytes/);
    expect(error.message).not.toContain('short-secret-value');
  });

  it('reads X_FILE secrets and refuses X and X_FILE together', () => {
    const file = join(dir, 'openai-key');
    writeFileSync(file, 'sk-from-file\n');
    expect(load({ OPENAI_API_KEY_FILE: file }).chat.apiKey).toBe('sk-from-file');
    expect(failure({ OPENAI_API_KEY_FILE: file, OPENAI_API_KEY: 'sk-env' }).message).toMatch(
      /OPENAI_API_KEY and OPENAI_API_KEY_FILE are both set/,
    );
    expect(failure({ OPENAI_API_KEY_FILE: join(dir, 'missing') }).message).toMatch(
      /OPENAI_API_KEY_FILE names a file/,
    );
  });

  it('reads the OIDC client secret from OIDC_CLIENT_SECRET_FILE like every secret', () => {
    const file = join(dir, 'oidc-secret');
    writeFileSync(file, 'oidc-secret-from-file\n');
    const oidc = { OIDC_ISSUER: 'https://idp.example', OIDC_CLIENT_ID: 'keyward' };
    const config = load({ ...oidc, OIDC_CLIENT_SECRET_FILE: file }).oidc;
    expect(config.enabled && config.clientSecret).toBe('oidc-secret-from-file');
    expect(
      failure({ ...oidc, OIDC_CLIENT_SECRET_FILE: file, OIDC_CLIENT_SECRET: 'x' }).message,
    ).toMatch(/OIDC_CLIENT_SECRET and OIDC_CLIENT_SECRET_FILE are both set/);
  });

  it('reads .env outside production only, the process environment winning', () => {
    writeFileSync(join(dir, '.env'), 'PORT=4123\nCHAT_MODELS=a,b\n');
    const dev = load({ CHAT_MODELS: 'c' });
    expect(dev.app.port).toBe(4123);
    expect(dev.chat.models).toEqual(['c']);
    const prod = load({
      NODE_ENV: 'production',
      JWT_SIGNING_KEYS: pem(),
      COOKIE_SECRETS: secret(),
      AUDIT_HMAC_KEY: secret(),
    });
    expect(prod.app.port).toBe(3000);
  });

  it('parses a rotation set: the first key signs, all verify', () => {
    const config = load({ JWT_SIGNING_KEYS: `${pem()}\n${pem()}` });
    expect(config.auth.keys.verification.size).toBe(2);
    expect([...config.auth.keys.verification.keys()][0]).toBe(config.auth.keys.signing.kid);
  });

  it('refuses malformed durations, sizes and proxy lists', () => {
    expect(failure({ ACCESS_TOKEN_TTL: '10 minutes' }).message).toMatch(/ACCESS_TOKEN_TTL/);
    expect(failure({ BODY_LIMIT: 'huge' }).message).toMatch(/BODY_LIMIT/);
    expect(failure({ TRUST_PROXY: 'everyone' }).message).toMatch(/TRUST_PROXY/);
    expect(load({ TRUST_PROXY: 'true' }).app.trustProxy).toEqual([
      'loopback',
      'linklocal',
      'uniquelocal',
    ]);
  });

  it('reads PUBLIC_URL without its trailing slash, and refuses a relative or odd one', () => {
    expect(load({}).app.publicUrl).toBeUndefined();
    expect(load({ PUBLIC_URL: 'https://keyward.corp.example/' }).app.publicUrl).toBe(
      'https://keyward.corp.example',
    );
    expect(load({ PUBLIC_URL: 'https://corp.example/keyward' }).app.publicUrl).toBe(
      'https://corp.example/keyward',
    );
    for (const bad of ['/keyward', 'ftp://keyward.example', 'https://k.example/?a=1', 'x#y']) {
      expect(failure({ PUBLIC_URL: bad }).message).toMatch(/^Configuration error: PUBLIC_URL /);
    }
  });

  it('reads JWT_RESOURCES as a JSON list of absolute URIs other than JWT_AUDIENCE', () => {
    expect(load({}).auth.resources).toEqual([]);
    expect(
      load({ JWT_RESOURCES: '["https://billing.corp.example","urn:reports"]' }).auth.resources,
    ).toEqual(['https://billing.corp.example', 'urn:reports']);
    for (const bad of [
      'not json',
      '"https://a.example"',
      '["relative"]',
      '["https://a#b"]',
      '[1]',
    ]) {
      expect(failure({ JWT_RESOURCES: bad }).message).toMatch(
        /^Configuration error: JWT_RESOURCES /,
      );
    }
    expect(failure({ JWT_RESOURCES: '["keyward-api"]' }).message).toMatch(
      /^Configuration error: JWT_RESOURCES /,
    );
    expect(
      failure({
        JWT_AUDIENCE: 'https://keyward.example',
        JWT_RESOURCES: '["https://keyward.example"]',
      }).message,
    ).toMatch(/JWT_AUDIENCE/);
  });

  it('refuses a request-log buffer smaller than one batch, naming both variables', () => {
    expect(
      failure({ REQUEST_LOG_BATCH_ROWS: '500', REQUEST_LOG_MAX_BUFFER: '100' }).message,
    ).toMatch(
      /^Configuration error: REQUEST_LOG_MAX_BUFFER must be at least REQUEST_LOG_BATCH_ROWS \(500\)$/,
    );
    expect(failure({ REQUEST_LOG_MAX_BUFFER: '499' }).message).toMatch(/REQUEST_LOG_MAX_BUFFER/);
    expect(
      load({ REQUEST_LOG_BATCH_ROWS: '50', REQUEST_LOG_MAX_BUFFER: '50' }).requestLog,
    ).toMatchObject({ batchRows: 50, maxBuffer: 50 });
  });

  it('keeps generated keys out of the working directory', () => {
    const config = load({});
    expect(config.generatedSecrets.every((path) => path.startsWith(join(dir, 'data')))).toBe(true);
    expect(readFileSync(config.generatedSecrets[0], 'utf8')).toMatch(/PRIVATE KEY/);
  });

  it('reads the image limits: CHAT_MAX_IMAGES and CHAT_IMAGE_TOKENS over the built-in table', () => {
    const defaults = load({}).chat.images;
    expect(defaults.maxImages).toBe(10);
    expect(defaults.imageTokens['gpt-4o-mini']).toEqual({ high: 48_169, low: 2833 });
    const custom = load({
      CHAT_MAX_IMAGES: '2',
      CHAT_IMAGE_TOKENS: '{"my-vision": 6000, "gpt-4o": {"high": 2000, "low": 100}}',
    }).chat.images;
    expect(custom.maxImages).toBe(2);
    expect(custom.imageTokens['my-vision']).toEqual({ high: 6000, low: 6000 });
    expect(custom.imageTokens['gpt-4o']).toEqual({ high: 2000, low: 100 });
    expect(custom.imageTokens['gpt-4o-mini']).toEqual({ high: 48_169, low: 2833 });
    for (const bad of ['not json', '{"m": -1}', '{"m": {"high": 1}}', '[1]']) {
      expect(failure({ CHAT_IMAGE_TOKENS: bad }).message).toContain('CHAT_IMAGE_TOKENS');
    }
  });
});
