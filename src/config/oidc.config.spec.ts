import { parseNamespace } from './configuration';
import { ConfigError } from './config-error';
import { oidcConfigSchema } from './oidc.config';

const base = {
  OIDC_ISSUER: 'https://idp.example/realms/corp',
  OIDC_CLIENT_ID: 'keyward',
  OIDC_CLIENT_SECRET: 'secret-value',
};

function failure(env: Record<string, string>): string {
  try {
    parseNamespace(oidcConfigSchema, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('oidcConfigSchema', () => {
  it('is off without OIDC_ISSUER, and parses a full configuration with defaults', () => {
    expect(parseNamespace(oidcConfigSchema, {})).toEqual({
      enabled: false,
      displayName: 'single sign-on',
    });
    const config = parseNamespace(oidcConfigSchema, {
      ...base,
      OIDC_ROLE_MAP: '{"admins":"admin","ops":["user","team:ops:team_admin"]}',
      OIDC_BREAK_GLASS_USERS: 'Root, ops-admin',
    });
    expect(config).toMatchObject({
      enabled: true,
      scopes: ['openid', 'profile', 'email'],
      roleClaim: 'groups',
      tokenAuthMethod: 'client_secret_basic',
      oidcOnly: false,
      breakGlassUsers: ['root', 'ops-admin'],
      managedTeams: ['ops'],
    });
  });

  it.each([
    [{ ...base, OIDC_ISSUER: 'http://idp.example' }, /OIDC_ISSUER.*https/],
    [{ ...base, OIDC_ISSUER: 'https://user:pw@idp.example' }, /OIDC_ISSUER/],
    [{ ...base, OIDC_CLIENT_ID: '' }, /OIDC_CLIENT_ID is required/],
    [{ ...base, OIDC_CLIENT_SECRET: '' }, /OIDC_CLIENT_SECRET/],
    [{ ...base, OIDC_SCOPES: 'profile email' }, /OIDC_SCOPES must include openid/],
    [{ ...base, OIDC_ROLE_MAP: '{' }, /OIDC_ROLE_MAP is not valid JSON/],
    [{ ...base, OIDC_ROLE_MAP: '["admin"]' }, /OIDC_ROLE_MAP must be a JSON object/],
    [{ ...base, OIDC_ROLE_MAP: '{"g":"root"}' }, /group "g"/],
    [{ ...base, OIDC_ROLE_MAP: '{"g":"team:ops:owner"}' }, /group "g"/],
    [{ ...base, OIDC_REDIRECT_URL: '/callback' }, /OIDC_REDIRECT_URL/],
    [{ ...base, OIDC_TOKEN_AUTH_METHOD: 'private_key_jwt' }, /OIDC_TOKEN_AUTH_METHOD/],
    [{ OIDC_ONLY: 'true' }, /OIDC_ONLY needs OIDC_ISSUER/],
  ])('refuses %j', (env, message) => {
    expect(failure(env as Record<string, string>)).toMatch(message);
  });

  it('needs no secret for a public client (PKCE only)', () => {
    const config = parseNamespace(oidcConfigSchema, {
      ...base,
      OIDC_CLIENT_SECRET: '',
      OIDC_TOKEN_AUTH_METHOD: 'none',
    });
    expect(config).toMatchObject({ enabled: true, tokenAuthMethod: 'none' });
  });
});
