import { Body, Controller, Delete, Header, HttpCode, Post, Req, Res } from '@nestjs/common';
import {
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '../http/openapi-decorators';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import { CookieService } from '../cookies/cookie.service';
import { CsrfService } from '../cookies/csrf.service';
import { SessionDto, SessionLoginDto } from './dto/session.dto';
import { LoginService } from './login.service';
import { Public } from './public.decorator';
import { SESSION_PATH } from './auth-paths';
import { SessionCookies } from './session-cookies';
import { PublicAuthLimitService } from './public-auth-limit.service';
import { SessionsService } from './sessions.service';

/**
 * The browser session: tokens live only in HttpOnly cookies, never in a response body.
 * Refresh and logout are authenticated by the refresh cookie (whose path is exactly these
 * routes), so they work after the short-lived access cookie has expired; both need the
 * session's CSRF token.
 */
@ApiTags('session')
@Controller(SESSION_PATH)
export class SessionController {
  constructor(
    private readonly login: LoginService,
    private readonly sessions: SessionsService,
    private readonly cookies: CookieService,
    private readonly csrf: CsrfService,
    private readonly audit: AuditService,
    private readonly publicLimit: PublicAuthLimitService,
    private readonly sessionCookies: SessionCookies,
  ) {}

  @Public()
  @Post()
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Browser sign-in: sets the session cookies; JSON only (a form post is 415)',
    description:
      'Sets the access, refresh and CSRF cookies. The body holds the user and the CSRF token, never a token.',
  })
  @ApiOkResponse({ type: SessionDto })
  async create(
    @Body() body: SessionLoginDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SessionDto> {
    const session = await this.login.login(body.username, body.password, request.ip, 'cookie');
    return this.sessionCookies.issue(reply, session);
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @ApiCookieAuth('cookie')
  @ApiHeader({ name: 'X-CSRF-Token', required: true })
  @ApiOperation({ summary: 'Rotate the cookie session (new access and refresh cookies)' })
  @ApiOkResponse({ type: SessionDto })
  @ApiForbiddenResponse({ description: 'CSRF token missing, wrong, or of another session' })
  @ApiTooManyRequestsResponse({
    description: 'More than AUTH_PUBLIC_RPM (default 60) requests a minute from one address',
  })
  async refresh(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SessionDto> {
    const refreshToken = await this.authenticate(request);
    const session = await this.sessions
      .refresh(refreshToken, 'cookie', {
        ip: request.ip,
        userAgent: request.headers['user-agent'],
      })
      .catch((error: unknown) => {
        this.sessionCookies.clear(reply);
        throw error instanceof DomainError && error.code === 'invalid_grant'
          ? new DomainError('unauthenticated', 'The session has ended; sign in again.')
          : error;
      });
    return this.sessionCookies.issue(reply, session);
  }

  @Public()
  @Delete()
  @HttpCode(204)
  @ApiCookieAuth('cookie')
  @ApiHeader({ name: 'X-CSRF-Token', required: true })
  @ApiOperation({ summary: 'Sign out: ends the session and clears the cookies' })
  @ApiNoContentResponse()
  @ApiTooManyRequestsResponse({
    description: 'More than AUTH_PUBLIC_RPM (default 60) requests a minute from one address',
  })
  async remove(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    const refreshToken = await this.authenticate(request);
    const ended = await this.sessions.revokeByRefreshToken(refreshToken);
    this.sessionCookies.clear(reply);
    if (ended) {
      await this.audit.record('logout', {
        actorId: ended.userId,
        subject: ended.sessionId,
        ip: request.ip,
      });
    }
  }

  /**
   * The refresh cookie is the credential here; the CSRF token must belong to its session.
   * Counted per address first: each call looks the session up in the database.
   */
  private async authenticate(request: FastifyRequest): Promise<string> {
    await this.publicLimit.consume(request.ip);
    const refreshToken = this.cookies.readEncrypted(request, 'refresh');
    if (!refreshToken) throw new DomainError('unauthenticated', 'No valid session cookie.');
    const session = await this.sessions.findByRefreshToken(refreshToken);
    if (!session) throw new DomainError('unauthenticated', 'The session has ended; sign in again.');
    this.csrf.assertValid(request, session.sessionId);
    return refreshToken;
  }
}
