import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeywardConfig } from '../config/configuration';
import { CookieSealer } from './cookie-sealer';
import { type CookieRole, cookieName, cookieOptions } from './cookie-policy';

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

  set(reply: FastifyReply, role: CookieRole, value: string, maxAgeSeconds: number): void {
    void reply.setCookie(this.name(role), value, cookieOptions(role, this.secure, maxAgeSeconds));
  }

  clear(reply: FastifyReply, role: CookieRole): void {
    void reply.setCookie(this.name(role), '', {
      ...cookieOptions(role, this.secure, 0),
      expires: new Date(0),
    });
  }

  setEncrypted(reply: FastifyReply, role: CookieRole, value: string, maxAgeSeconds: number): void {
    this.set(
      reply,
      role,
      this.sealer.encrypt(this.name(role), value, maxAgeSeconds),
      maxAgeSeconds,
    );
  }

  readEncrypted(request: FastifyRequest, role: CookieRole): string | undefined {
    return this.sealer.decrypt(this.name(role), this.read(request, role));
  }

  setSigned(reply: FastifyReply, role: CookieRole, value: string, maxAgeSeconds: number): void {
    this.set(reply, role, this.sealer.sign(this.name(role), value, maxAgeSeconds), maxAgeSeconds);
  }

  readSigned(request: FastifyRequest, role: CookieRole): string | undefined {
    return this.sealer.unsign(this.name(role), this.read(request, role));
  }
}
