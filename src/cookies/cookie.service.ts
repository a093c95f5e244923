import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeywardConfig } from '../config/configuration';
import { CookieSealer } from './cookie-sealer';
import {
  type CookieAttributes,
  type CookieRole,
  cookieMaxAge,
  cookieName,
  cookieOptions,
  type SessionLifetimes,
} from './cookie-policy';

const EXPIRED: SessionLifetimes = { access: 0, refresh: 0 };

/**
 * The only code that sets, reads or clears cookies. Attributes come from COOKIE_POLICY;
 * values that need it are encrypted or signed by the CookieSealer. A value that fails its
 * check reads as absent, never as an error.
 *
 * Parsing and serialising go through the `cookie` library directly, when a cookie is read or
 * set, with the same calls and options @fastify/cookie made: registered as a plugin, it
 * added an `onRequest` hook that parsed every request's Cookie header and an `onSend` hook
 * that ran on every answer, whether a route touched cookies or not (docs/runtime.md
 * "Request pipeline"). Each `Set-Cookie` line is added when the cookie is set, in the order
 * set; no route sets the same cookie twice in one answer.
 */
@Injectable()
export class CookieService {
  readonly secure: boolean;
  readonly sealer: CookieSealer;

  constructor(config: ConfigService<KeywardConfig, true>) {
    const cookies = config.get('cookies', { infer: true });
    this.secure = cookies.secure;
    this.sealer = new CookieSealer(cookies.secrets);
  }

  name(role: CookieRole): string {
    return cookieName(role, this.secure);
  }

  /** Raw value as the browser sent it (URI-decoded, as the `cookie` library parses it). */
  read(request: FastifyRequest, role: CookieRole): string | undefined {
    const header = request.headers.cookie;
    if (!header) return undefined;
    const value = parseCookie(header)[this.name(role)];
    return typeof value === 'string' && value.length > 0 ? value : undefined;
  }

  /** Max-Age comes from the role's policy entry: `lifetimes` says how long each lifetime is. */
  set(reply: FastifyReply, role: CookieRole, value: string, lifetimes: SessionLifetimes): void {
    this.append(reply, role, value, cookieOptions(role, this.secure, lifetimes));
  }

  clear(reply: FastifyReply, role: CookieRole): void {
    this.append(reply, role, '', {
      ...cookieOptions(role, this.secure, EXPIRED),
      maxAge: 0,
      expires: new Date(0),
    });
  }

  /** Fastify keeps every `Set-Cookie` line (`reply.header` appends for that name). */
  private append(
    reply: FastifyReply,
    role: CookieRole,
    value: string,
    options: CookieAttributes,
  ): void {
    void reply.header(
      'Set-Cookie',
      stringifySetCookie({ name: this.name(role), value, ...options }),
    );
  }

  setEncrypted(
    reply: FastifyReply,
    role: CookieRole,
    value: string,
    lifetimes: SessionLifetimes,
  ): void {
    const sealed = this.sealer.encrypt(this.name(role), value, cookieMaxAge(role, lifetimes));
    this.set(reply, role, sealed, lifetimes);
  }

  readEncrypted(request: FastifyRequest, role: CookieRole): string | undefined {
    return this.sealer.decrypt(this.name(role), this.read(request, role));
  }

  setSigned(
    reply: FastifyReply,
    role: CookieRole,
    value: string,
    lifetimes: SessionLifetimes,
  ): void {
    const sealed = this.sealer.sign(this.name(role), value, cookieMaxAge(role, lifetimes));
    this.set(reply, role, sealed, lifetimes);
  }

  readSigned(request: FastifyRequest, role: CookieRole): string | undefined {
    return this.sealer.unsign(this.name(role), this.read(request, role));
  }
}
