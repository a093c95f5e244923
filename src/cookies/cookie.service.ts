import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeywardConfig } from '../config/configuration';
import { CookieSealer } from './cookie-sealer';
import {
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

  /** Raw value as the browser sent it. */
  read(request: FastifyRequest, role: CookieRole): string | undefined {
    const value = request.cookies?.[this.name(role)];
    return typeof value === 'string' && value.length > 0 ? value : undefined;
  }

  /** Max-Age comes from the role's policy entry: `lifetimes` says how long each lifetime is. */
  set(reply: FastifyReply, role: CookieRole, value: string, lifetimes: SessionLifetimes): void {
    void reply.setCookie(this.name(role), value, cookieOptions(role, this.secure, lifetimes));
  }

  clear(reply: FastifyReply, role: CookieRole): void {
    void reply.setCookie(this.name(role), '', {
      ...cookieOptions(role, this.secure, EXPIRED),
      maxAge: 0,
      expires: new Date(0),
    });
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
