import { Body, Controller, Header, HttpCode, Post, Req } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import {
  ApiBadRequestResponse,
  ApiBasicAuth,
  ApiConsumes,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '../http/openapi-decorators';
import type { FastifyRequest } from 'fastify';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import { UseErrorFormat } from '../common/error-format.decorator';
import { CsrfService } from '../cookies/csrf.service';
import { FORM_BODY_ROUTE } from '../common/form-body';
import { AUTH_PATH } from './auth-paths';
import { isApiKeyToken } from './api-key-format';
import { ApiKeysService } from './api-keys.service';
import { AccessTokenService } from './access-token.service';
import { readClientCredentials } from './client-credentials';
import {
  IntrospectRequestDto,
  IntrospectResponseDto,
  RevokeRequestDto,
  TokenRequestDto,
  TokenResponseDto,
} from './dto/token-request.dto';
import { IntrospectionService } from './introspection.service';
import { MachineClientsService } from './machine-clients.service';
import { LoginService } from './login.service';
import { Public } from './public.decorator';
import { PublicAuthLimitService } from './public-auth-limit.service';
import { SessionsService } from './sessions.service';

/** The OAuth2 token and revocation endpoints; errors use RFC 6749 §5.2's format. */
@UseErrorFormat('oauth2')
@ApiTags('auth')
@Controller(AUTH_PATH)
export class TokenController {
  constructor(
    private readonly login: LoginService,
    private readonly sessions: SessionsService,
    private readonly accessTokens: AccessTokenService,
    private readonly apiKeys: ApiKeysService,
    private readonly csrf: CsrfService,
    private readonly publicLimit: PublicAuthLimitService,
    private readonly clients: MachineClientsService,
    private readonly introspection: IntrospectionService,
    private readonly audit: AuditService,
  ) {}

  @Public()
  @Post('token')
  @HttpCode(200)
  @RouteConfig(FORM_BODY_ROUTE)
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiOperation({
    summary: 'OAuth2 token endpoint: password, refresh_token and client_credentials grants',
    description:
      'client_credentials: a machine client (POST /api/v1/admin/clients) authenticates with Authorization: Basic or ' +
      'client_id + client_secret in the body, may narrow its scopes with `scope`, and gets an access token with ' +
      '`sub` = `client_id` = its id and no refresh token; failed secrets count like failed passwords. ' +
      '`resource` (RFC 8707, any grant) asks for a token for one JWT_RESOURCES service: its `aud` is that service alone. ' +
      'Every refresh rotates the refresh token; presenting a rotated one again revokes the whole session. ' +
      'Five failed passwords for one username from one IP lock that pair with a growing Retry-After. ' +
      'A form post from another site (`Sec-Fetch-Site: cross-site` or a foreign `Origin`) is refused with 403 and not counted. ' +
      'Refresh grants count against a per-address limit (AUTH_PUBLIC_RPM, default 60 a minute).',
  })
  @ApiOkResponse({ type: TokenResponseDto })
  @ApiBadRequestResponse({
    description:
      '`{error, error_description}` (invalid_grant, unsupported_grant_type, invalid_request, invalid_scope, invalid_target)',
  })
  @ApiUnauthorizedResponse({ description: '`{"error": "invalid_client"}` (client_credentials)' })
  @ApiForbiddenResponse({ description: 'A form post from another site' })
  @ApiTooManyRequestsResponse({ description: 'Locked out or too many requests; see Retry-After' })
  async token(
    @Body() body: TokenRequestDto,
    @Req() request: FastifyRequest,
  ): Promise<TokenResponseDto> {
    // A hostile page can auto-submit a form here (no preflight) to lock its visitor out:
    // refused before anything is counted. JSON from another site needs CORS anyway.
    if (isFormPost(request)) this.csrf.assertSameOrigin(request, 'post to the token endpoint');
    const options = { audience: this.resourceOf(body) };
    let session;
    switch (body.grant_type) {
      case 'password': {
        if (!body.username || body.password === undefined) {
          throw new DomainError(
            'validation_failed',
            'username and password are required for grant_type=password.',
          );
        }
        try {
          session = await this.login.login(
            body.username,
            body.password,
            request.ip,
            'token',
            options,
          );
        } catch (error) {
          // RFC 6749 §5.2: wrong resource-owner credentials are invalid_grant (400).
          // OIDC_ONLY's refusal (forbidden) too: this grant is not available to the user.
          if (
            error instanceof DomainError &&
            (error.code === 'invalid_credentials' || error.code === 'forbidden')
          ) {
            throw new DomainError('invalid_grant', error.detail);
          }
          throw error;
        }
        break;
      }
      case 'refresh_token':
        if (!body.refresh_token) {
          throw new DomainError(
            'validation_failed',
            'refresh_token is required for grant_type=refresh_token.',
          );
        }
        await this.publicLimit.consume(request.ip);
        session = await this.sessions.refresh(
          body.refresh_token,
          'token',
          { ip: request.ip },
          options,
        );
        break;
      case 'client_credentials': {
        const { client, user } = await this.authenticateClient(request, body);
        const scopes = grantedScopes(body.scope, client.scopes);
        const issued = await this.sessions.startClient(user, scopes, options);
        await this.audit.record('client.token_issued', {
          actorId: client.id,
          subject: client.id,
          ip: request.ip,
          details: {
            scope: issued.scope,
            ...(options.audience ? { resource: options.audience } : {}),
          },
        });
        // RFC 6749 §4.4.3: no refresh token; the client asks again with its secret.
        return {
          access_token: issued.accessToken,
          token_type: 'Bearer',
          expires_in: issued.expiresIn,
          scope: issued.scope,
        };
      }
      default:
        throw new DomainError(
          'unsupported_grant_type',
          'Supported grant types: password, refresh_token, client_credentials.',
        );
    }
    return {
      access_token: session.accessToken,
      token_type: 'Bearer',
      expires_in: session.expiresIn,
      refresh_token: session.refreshToken,
      scope: session.scope,
    };
  }

  @Public()
  @Post('introspect')
  @HttpCode(200)
  @RouteConfig(FORM_BODY_ROUTE)
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiBasicAuth('client')
  @ApiOperation({
    summary: 'RFC 7662 token introspection, for registered machine clients',
    description:
      'The caller authenticates as a machine client (Authorization: Basic, or client_id + client_secret in the body), ' +
      'under the same brute-force limits as sign-in. A Keyward access token (any JWT_RESOURCES audience too) is active ' +
      'while it verifies and its session is live: a logout, logout-all, disable or secret rotation makes it inactive at once. ' +
      'Anything else is `{"active": false}`.',
  })
  @ApiOkResponse({ type: IntrospectResponseDto })
  @ApiUnauthorizedResponse({
    description: '`{"error": "invalid_client"}`: no or wrong client credentials',
  })
  @ApiTooManyRequestsResponse({ description: 'Locked out; see Retry-After' })
  async introspect(
    @Body() body: IntrospectRequestDto,
    @Req() request: FastifyRequest,
  ): Promise<IntrospectResponseDto> {
    await this.authenticateClient(request, body);
    return this.introspection.introspect(body.token);
  }

  /** RFC 8707 §2: a resource must be one Keyward issues tokens for. */
  private resourceOf(body: TokenRequestDto): string | undefined {
    if (body.resource === undefined) return undefined;
    if (!this.accessTokens.isResource(body.resource)) {
      throw new DomainError(
        'invalid_target',
        'Unknown resource: it must be one of the services configured in JWT_RESOURCES.',
      );
    }
    return body.resource;
  }

  /**
   * RFC 6749 §2.3.1 client authentication; a failure is 401 invalid_client, with a Basic
   * challenge when the client tried Basic (§5.2).
   */
  private async authenticateClient(
    request: FastifyRequest,
    body: { client_id?: string; client_secret?: string },
  ) {
    const credentials = readClientCredentials(request, body);
    if (!credentials) {
      throw new DomainError(
        'invalid_client',
        'Client authentication required: Authorization: Basic, or client_id and client_secret in the body.',
      );
    }
    try {
      return await this.clients.authenticate(
        credentials.clientId,
        credentials.clientSecret,
        request.ip,
      );
    } catch (error) {
      if (
        error instanceof DomainError &&
        error.code === 'invalid_client' &&
        credentials.method === 'client_secret_basic'
      ) {
        throw new DomainError('invalid_client', error.detail, {
          headers: { 'WWW-Authenticate': 'Basic realm="keyward"' },
        });
      }
      throw error;
    }
  }

  @Public()
  @Post('revoke')
  @HttpCode(200)
  @RouteConfig(FORM_BODY_ROUTE)
  @Header('Cache-Control', 'no-store')
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiOperation({
    summary: 'RFC 7009 revocation: always 200',
    description:
      'A refresh token or an access token ends its whole session; a kw_ API key is revoked. Unknown tokens are ignored.',
  })
  @ApiOkResponse({ description: 'Empty body' })
  @ApiTooManyRequestsResponse({
    description: 'More than AUTH_PUBLIC_RPM (default 60) requests a minute from one address',
  })
  async revoke(@Body() body: RevokeRequestDto, @Req() request: FastifyRequest): Promise<void> {
    await this.publicLimit.consume(request.ip);
    const { token } = body;
    if (isApiKeyToken(token)) {
      await this.apiKeys.revokeByValue(token, request.ip);
      return;
    }
    const sessionId =
      token.split('.').length === 3 ? this.accessTokens.sessionOf(token) : undefined;
    if (sessionId) {
      await this.sessions.revoke(sessionId, 'revoked');
      return;
    }
    await this.sessions.revokeByRefreshToken(token);
  }
}

/** The requested scopes (RFC 6749 §3.3), each one the client's; none asked: all of them. */
function grantedScopes(requested: string | undefined, allowed: readonly string[]): string[] {
  const asked = [...new Set((requested ?? '').split(' ').filter(Boolean))];
  if (asked.length === 0) return [...allowed];
  const refused = asked.filter((scope) => !allowed.includes(scope));
  if (refused.length) {
    throw new DomainError(
      'invalid_scope',
      `Scopes not granted to this client: ${refused.join(', ')}.`,
    );
  }
  return asked;
}

function isFormPost(request: FastifyRequest): boolean {
  const type = request.headers['content-type'];
  return (
    typeof type === 'string' && type.toLowerCase().startsWith('application/x-www-form-urlencoded')
  );
}
