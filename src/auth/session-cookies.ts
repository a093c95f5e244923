import { Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { CookieService } from '../cookies/cookie.service';
import { CsrfService } from '../cookies/csrf.service';
import type { SessionDto } from './dto/session.dto';
import type { IssuedSession } from './sessions.service';

/**
 * What a browser session puts in and takes out of the cookie jar, decided once for every
 * way a session starts (password sign-in, refresh, single sign-on) or ends.
 */
@Injectable()
export class SessionCookies {
  constructor(
    private readonly cookies: CookieService,
    private readonly csrf: CsrfService,
  ) {}

  /** Sets the access, refresh and CSRF cookies; the body names the user and the CSRF token. */
  issue(reply: FastifyReply, session: IssuedSession): SessionDto {
    const lifetimes = {
      access: session.expiresIn,
      refresh: (session.refreshExpiresAt.getTime() - Date.now()) / 1000,
    };
    const csrfToken = this.csrf.tokenFor(session.sessionId);
    this.cookies.set(reply, 'access', session.accessToken, lifetimes);
    this.cookies.setEncrypted(reply, 'refresh', session.refreshToken, lifetimes);
    this.cookies.set(reply, 'csrf', csrfToken, lifetimes);
    return {
      user: { id: session.userId, username: session.username, roles: [...session.roles] },
      csrfToken,
    };
  }

  clear(reply: FastifyReply): void {
    this.cookies.clear(reply, 'access');
    this.cookies.clear(reply, 'refresh');
    this.cookies.clear(reply, 'csrf');
  }
}
