import { Body, Controller, Header, HttpCode, Post, Req } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import {
  ApiBadRequestResponse,
  ApiConsumes,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error';
import { UseErrorFormat } from '../common/error-format.decorator';
import { CsrfService } from '../cookies/csrf.service';
import { FORM_BODY_ROUTE } from '../common/form-body';
import { AUTH_PATH } from './auth-paths';
import { isApiKeyToken } from './api-key-format';
import { ApiKeysService } from './api-keys.service';
import { AccessTokenService } from './access-token.service';
import { RevokeRequestDto, TokenRequestDto, TokenResponseDto } from './dto/token-request.dto';
import { LoginService } from './login.service';
import { scopesForRoles } from './principal';
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
  ) {}

  @Public()
  @Post('token')
  @HttpCode(200)
  @RouteConfig(FORM_BODY_ROUTE)
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiOperation({
    summary: 'OAuth2 token endpoint: password and refresh_token grants',
    description:
      'Every refresh rotates the refresh token; presenting a rotated one again revokes the whole session. ' +
      'Five failed passwords for one username from one IP lock that pair with a growing Retry-After. ' +
      'A form post from another site (`Sec-Fetch-Site: cross-site` or a foreign `Origin`) is refused with 403 and not counted. ' +
      'Refresh grants count against a per-address limit (AUTH_PUBLIC_RPM, default 60 a minute).',
  })
  @ApiOkResponse({ type: TokenResponseDto })
  @ApiBadRequestResponse({
    description:
      '`{error, error_description}` (invalid_grant, unsupported_grant_type, invalid_request)',
  })
  @ApiForbiddenResponse({ description: 'A form post from another site' })
  @ApiTooManyRequestsResponse({ description: 'Locked out or too many requests; see Retry-After' })
  async token(
    @Body() body: TokenRequestDto,
    @Req() request: FastifyRequest,
  ): Promise<TokenResponseDto> {
    // A hostile page can auto-submit a form here (no preflight) to lock its visitor out:
    // refused before anything is counted. JSON from another site needs CORS anyway.
    if (isFormPost(request)) this.csrf.assertSameOrigin(request, 'post to the token endpoint');
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
          session = await this.login.login(body.username, body.password, request.ip, 'token');
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
        session = await this.sessions.refresh(body.refresh_token, 'token', { ip: request.ip });
        break;
      default:
        throw new DomainError(
          'unsupported_grant_type',
          'Supported grant types: password, refresh_token.',
        );
    }
    return {
      access_token: session.accessToken,
      token_type: 'Bearer',
      expires_in: session.expiresIn,
      refresh_token: session.refreshToken,
      scope: scopesForRoles(session.roles).join(' '),
    };
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

function isFormPost(request: FastifyRequest): boolean {
  const type = request.headers['content-type'];
  return (
    typeof type === 'string' && type.toLowerCase().startsWith('application/x-www-form-urlencoded')
  );
}
