import { Controller, Get, Header } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiOkResponse, ApiOperation, ApiTags } from '../http/openapi-decorators';
import type { KeywardConfig } from '../config/configuration';
import { publicUrl } from '../config/app.config';
import { INTROSPECT_PATH, REVOKE_PATH, TOKEN_PATH } from './auth-paths';
import { Public } from './public.decorator';

/** Discovery for other services that verify Keyward's tokens (Flask, FastAPI, Go...). */
@ApiTags('discovery')
@Public()
@Controller('.well-known')
export class WellKnownController {
  private readonly jwks: { keys: object[] };
  private readonly metadata: Record<string, unknown>;

  constructor(config: ConfigService<KeywardConfig, true>) {
    const auth = config.get('auth', { infer: true });
    // Public keys only; an HS256 deployment publishes an empty set.
    this.jwks = {
      keys: [...auth.keys.verification.values()].flatMap((key) =>
        key.publicJwk ? [key.publicJwk] : [],
      ),
    };
    const app = config.get('app', { infer: true });
    // PUBLIC_URL makes every URL absolute (PyJWT's PyJWKClient needs an absolute jwks_uri);
    // without it, an http(s) issuer is the base, else the paths stay relative.
    const fallback = auth.issuer.startsWith('http') ? auth.issuer.replace(/\/$/, '') : '';
    const url = (path: string) => publicUrl(app, path, fallback);
    this.metadata = {
      issuer: auth.issuer,
      token_endpoint: url(TOKEN_PATH),
      revocation_endpoint: url(REVOKE_PATH),
      introspection_endpoint: url(INTROSPECT_PATH),
      jwks_uri: url('/.well-known/jwks.json'),
      grant_types_supported: ['password', 'refresh_token', 'client_credentials'],
      response_types_supported: [],
      // `none` for the password and refresh grants (public clients); the secrets for machine clients.
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: ['chat', 'usage', 'keys', 'admin'],
      // No `token_endpoint_auth_signing_alg_values_supported`: RFC 8414 §2 defines it for the
      // client's own JWT at the token endpoint (private_key_jwt, client_secret_jwt), which
      // Keyward does not take. The algorithm of Keyward's tokens is each JWKS key's `alg`.
    };
  }

  @Get('jwks.json')
  @Header('Cache-Control', 'public, max-age=300')
  @ApiOperation({ summary: 'JSON Web Key Set: every public key that verifies Keyward tokens' })
  @ApiOkResponse({
    schema: {
      example: {
        keys: [
          { kty: 'EC', crv: 'P-256', x: '...', y: '...', kid: '...', alg: 'ES256', use: 'sig' },
        ],
      },
    },
  })
  jwksSet(): { keys: object[] } {
    return this.jwks;
  }

  @Get('oauth-authorization-server')
  @Header('Cache-Control', 'public, max-age=300')
  @ApiOperation({ summary: 'RFC 8414 authorization server metadata' })
  authorizationServer(): Record<string, unknown> {
    return this.metadata;
  }
}
