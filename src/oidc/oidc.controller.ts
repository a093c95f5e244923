import { Controller, Get, HttpCode, Logger, Post, Query, Req, Res } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import {
  ApiFoundResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
} from '../http/openapi-decorators';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuditService } from '../audit/audit.service';
import { OIDC_PATH } from '../auth/auth-paths';
import { CurrentPrincipal, RequireScopes } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { Public } from '../auth/public.decorator';
import { PublicAuthLimitService } from '../auth/public-auth-limit.service';
import { SessionCookies } from '../auth/session-cookies';
import { SessionsService } from '../auth/sessions.service';
import { DomainError } from '../common/domain-error';
import { type AppConfig, publicUrl } from '../config/app.config';
import type { KeywardConfig } from '../config/configuration';
import { CookieService } from '../cookies/cookie.service';
import { describe, OidcClientService } from './oidc-client.service';
import { OidcConfigDto, OidcLogoutDto } from './oidc.dto';
import { OidcIdentitiesRepository } from './oidc-identities.repository';
import { OidcLoginService, RoleClaimUnavailableError } from './oidc-login.service';
import {
  type OidcPending,
  readOidcPending,
  serializeOidcPending,
  takeLogout,
  takeSignIn,
  withLogout,
  withSignIn,
} from './oidc-pending';
import { safeReturnTo } from './return-to';

/** kw_oidc's lifetime is fixed by its policy entry (10 min), whatever a session's would be. */
const NO_SESSION = { access: 0, refresh: 0 };

/** What the console shows after a failed sign-in (`/?sso_error=<reason>`); nothing else. */
export type SignInFailure =
  'access_denied' | 'expired' | 'unavailable' | 'disabled' | 'roles_unavailable' | 'failed';

/**
 * docs/sso.md: OpenID Connect sign-in. The browser goes to the IdP and comes back to the
 * callback, which ends exactly like a password sign-in at `POST /api/v1/auth/session`
 * (SessionCookies): tokens only in HttpOnly cookies, never in a URL or a page. The sign-ins
 * in progress (one per tab, a few at most) live in an encrypted cookie of their own for ten
 * minutes each.
 */
@ApiTags('session')
@Controller(OIDC_PATH)
export class OidcController {
  private readonly logger = new Logger(OidcController.name);
  private readonly app: AppConfig;

  constructor(
    private readonly client: OidcClientService,
    private readonly login: OidcLoginService,
    private readonly identities: OidcIdentitiesRepository,
    private readonly sessions: SessionsService,
    private readonly sessionCookies: SessionCookies,
    private readonly cookies: CookieService,
    private readonly publicLimit: PublicAuthLimitService,
    private readonly audit: AuditService,
    config: ConfigService<KeywardConfig, true>,
  ) {
    this.app = config.get('app', { infer: true });
  }

  @Public()
  @Get('config')
  @ApiOperation({ summary: 'Whether the console offers "Sign in with <displayName>"' })
  @ApiOkResponse({ type: OidcConfigDto })
  config(): OidcConfigDto {
    return { enabled: this.client.enabled, displayName: this.client.displayName };
  }

  @Public()
  @Get('login')
  @ApiOperation({
    summary: 'Start single sign-on: 302 to the identity provider',
    description:
      'Authorization code flow with PKCE (S256), state and nonce. `returnTo` is a path on this ' +
      'origin (anything else becomes `/`). 404 when OIDC_ISSUER is not set.',
  })
  @ApiQuery({ name: 'returnTo', required: false, example: '/docs' })
  @ApiFoundResponse({ description: 'To the identity provider (or to the console with sso_error)' })
  @ApiNotFoundResponse({ description: 'Single sign-on is not configured' })
  async start(
    @Query('returnTo') returnTo: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const settings = this.client.oidc;
    await this.publicLimit.consume(request.ip);
    const redirectUrl = settings.redirectUrl ?? this.url(request, `${OIDC_PATH}/callback`);
    let started;
    try {
      started = await this.client.startSignIn(redirectUrl, safeReturnTo(returnTo));
    } catch (error) {
      this.logger.warn(`Single sign-on could not start: ${describe(error)}`);
      return this.redirect(reply, '/?sso_error=unavailable');
    }
    // Another tab's sign-in in progress stays: each callback finds its own by state.
    const now = Date.now();
    this.savePending(reply, withSignIn(this.readPending(request, now), started.transaction, now));
    return this.redirect(reply, started.url.toString());
  }

  @Public()
  @Get('callback')
  @ApiOperation({
    summary: 'The identity provider sends the browser back here',
    description:
      'Checks state, redeems the code (PKCE), validates the ID token (issuer, audience, ' +
      'signature, expiry, nonce), creates or updates the user, then sets the same cookies as ' +
      'POST /api/v1/auth/session and redirects to returnTo. Any failure redirects to ' +
      '`/?sso_error=access_denied|expired|unavailable|disabled|roles_unavailable|failed`, without a session.',
  })
  @ApiFoundResponse({ description: 'To returnTo, or to the console with sso_error' })
  async callback(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const settings = this.client.oidc;
    await this.publicLimit.consume(request.ip);
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
    const pending = this.readPending(request, Date.now());
    if (pending.signIns.length === 0) {
      this.savePending(reply, pending);
      return this.fail(reply, request, 'expired', 'no sign-in in progress');
    }
    const { taken: transaction, rest } = takeSignIn(
      pending,
      new URLSearchParams(query).get('state'),
    );
    // One use: whatever happens next, this sign-in's state and verifier are gone; the other
    // tabs' sign-ins (and a pending logout) stay.
    this.savePending(reply, rest);
    if (!transaction) {
      return this.fail(reply, request, 'failed', 'state matches no sign-in in progress');
    }
    let session;
    try {
      const verified = await this.client.finishSignIn(query, transaction);
      session = await this.login.signIn(settings, verified, request.ip);
    } catch (error) {
      return this.fail(reply, request, failureOf(error), describe(error));
    }
    this.sessionCookies.issue(reply, session);
    return this.redirect(reply, transaction.returnTo);
  }

  @Post('logout')
  @RequireScopes('keys')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Sign out, and end the identity provider session too when it supports it',
    description:
      'Ends this session and clears the session cookies like DELETE /api/v1/auth/session. For a ' +
      'single-sign-on session and an IdP with an end_session_endpoint, `redirectTo` is ' +
      '`/api/v1/auth/oidc/end-session`, where the browser goes next: that route redirects to the ' +
      "IdP's logout (RP-initiated logout, with id_token_hint), so the ID token never reaches page " +
      'script. Otherwise `redirectTo` is null. Needs X-CSRF-Token with the cookie session.',
  })
  @ApiOkResponse({ type: OidcLogoutDto })
  async logout(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<OidcLogoutDto> {
    if (!principal.sessionId) {
      throw new DomainError('validation_failed', 'This credential has no session to end.');
    }
    const idToken = await this.identities.idTokenOf(principal.sessionId);
    await this.sessions.revoke(principal.sessionId, 'logout');
    this.sessionCookies.clear(reply);
    await this.audit.record('logout', {
      actorId: principal.userId,
      subject: principal.sessionId,
      ip: request.ip,
      details: { sso: Boolean(idToken) },
    });
    if (!idToken || !this.client.enabled || !(await this.client.supportsEndSession())) {
      return { redirectTo: null };
    }
    // Only the (ended) session's id travels, encrypted, for the next request to find its ID token;
    // sign-ins pending in other tabs stay.
    const now = Date.now();
    this.savePending(reply, withLogout(this.readPending(request, now), principal.sessionId, now));
    return { redirectTo: `${OIDC_PATH}/end-session` };
  }

  @Public()
  @Get('end-session')
  @ApiOperation({
    summary: "After POST logout: 302 to the identity provider's logout",
    description:
      "Redirects to the IdP's end_session_endpoint with id_token_hint and " +
      'post_logout_redirect_uri, once, for the session the logout just ended (encrypted cookie); ' +
      'without one, to the console.',
  })
  @ApiFoundResponse({ description: "To the IdP's logout, or to the console" })
  async endSession(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const settings = this.client.oidc;
    await this.publicLimit.consume(request.ip);
    const { taken: logout, rest } = takeLogout(this.readPending(request, Date.now()));
    this.savePending(reply, rest);
    // One use: the ID token is taken from the database and removed with it.
    const idToken = logout && (await this.identities.takeIdToken(logout.endSession));
    const target = settings.postLogoutRedirectUrl ?? this.url(request, '/');
    const url = idToken && (await this.client.endSessionUrl(idToken, target));
    return this.redirect(reply, url ?? '/');
  }

  /** docs/sso.md "Several tabs": what this browser has in progress (kw_oidc, encrypted). */
  private readPending(request: FastifyRequest, now: number): OidcPending {
    return readOidcPending(this.cookies.readEncrypted(request, 'oidc'), now);
  }

  /** Writes what stays in progress, or clears kw_oidc when nothing does. */
  private savePending(reply: FastifyReply, pending: OidcPending): void {
    const value = serializeOidcPending(pending);
    if (value === undefined) this.cookies.clear(reply, 'oidc');
    else this.cookies.setEncrypted(reply, 'oidc', value, NO_SESSION);
  }

  private async fail(
    reply: FastifyReply,
    request: FastifyRequest,
    reason: SignInFailure,
    cause: string,
  ): Promise<void> {
    await this.audit.record('login.sso_failed', { ip: request.ip, details: { reason } });
    this.logger.warn(`Single sign-on failed (${reason}): ${cause}`);
    this.redirect(reply, `/?sso_error=${reason}`);
  }

  private redirect(reply: FastifyReply, location: string): void {
    void reply.code(302).header('cache-control', 'no-store').header('location', location).send();
  }

  /**
   * A URL of ours to register at the IdP: under PUBLIC_URL when set, else under the origin the
   * request came to (TRUST_PROXY decides the forwarded parts).
   */
  private url(request: FastifyRequest, path: string): string {
    return publicUrl(this.app, path, `${request.protocol}://${request.host}`);
  }
}

/** The reason the console may show; details stay in the log. */
function failureOf(error: unknown): SignInFailure {
  if (error instanceof RoleClaimUnavailableError) return 'roles_unavailable';
  if (error instanceof DomainError) {
    if (error.code === 'service_unavailable') return 'unavailable';
    if (error.code === 'forbidden') return 'disabled';
    return 'failed';
  }
  // openid-client's AuthorizationResponseError: the IdP answered `error=...`.
  const idpError = (error as { error?: unknown } | undefined)?.error;
  if (idpError === 'access_denied') return 'access_denied';
  return 'failed';
}
