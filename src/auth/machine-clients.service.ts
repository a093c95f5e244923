import { randomUUID, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import type { ApiKeyScope, Role } from '../database/schema';
import { type Actor, UsersService } from '../users/users.service';
import type { User } from '../users/user';
import { LoginThrottleService } from './login-throttle.service';
import { type MachineClient, MachineClientsRepository } from './machine-clients.repository';
import { randomToken, sha256 } from './secure-random';
import { SessionsService } from './sessions.service';

/** Client secrets: a prefix secret scanners can match, then 256 random bits. */
export const CLIENT_SECRET_PREFIX = 'kwcs_';
const CLIENT_SECRET_PATTERN = /^kwcs_[A-Za-z0-9_-]{43}$/;
const CLIENT_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Compared when the client id is unknown, so unknown and wrong take the same path. */
const DUMMY_HASH = sha256(`${CLIENT_SECRET_PREFIX}${'0'.repeat(43)}`);

export interface MachineClientView {
  id: string;
  clientId: string;
  name: string;
  scopes: ApiKeyScope[];
  disabled: boolean;
  createdAt: string;
  secretRotatedAt: string | null;
}

function toView(client: MachineClient): MachineClientView {
  return {
    id: client.id,
    clientId: client.id,
    name: client.name,
    scopes: client.scopes,
    disabled: client.disabled,
    createdAt: client.createdAt.toISOString(),
    secretRotatedAt: client.secretRotatedAt?.toISOString() ?? null,
  };
}

/**
 * Machine clients (OAuth2 client_credentials, docs/clients.md). Each has a service user of
 * the same id: its `disabled` flag is the client's, and chat limits, budgets and usage
 * reports work on it as on any user. Secrets are 256-bit random values, so, like API keys
 * and refresh tokens, they are stored as SHA-256: a password hash's slowness protects
 * guessable secrets and would here only add latency to every token request.
 */
@Injectable()
export class MachineClientsService {
  constructor(
    private readonly repository: MachineClientsRepository,
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly throttle: LoginThrottleService,
    private readonly audit: AuditService,
  ) {}

  async create(
    input: { name: string; scopes: ApiKeyScope[] },
    actor: Actor,
  ): Promise<MachineClientView & { clientSecret: string }> {
    const scopes = [...new Set(input.scopes)];
    // The service user's roles bound what its tokens can do (JwtStrategy), as for any user.
    const roles: Role[] = scopes.includes('admin') ? ['user', 'admin'] : ['user'];
    const clientSecret = `${CLIENT_SECRET_PREFIX}${randomToken()}`;
    const client = await this.repository.insertWithServiceUser({
      id: randomUUID(),
      name: input.name,
      secretHash: sha256(clientSecret),
      scopes,
      roles,
    });
    await this.audit.record('client.created', {
      actorId: actor.id,
      subject: client.id,
      ip: actor.ip,
      details: { name: client.name, scopes },
    });
    return { ...toView(client), clientSecret };
  }

  async list(): Promise<MachineClientView[]> {
    return (await this.repository.listAll()).map(toView);
  }

  /**
   * A new secret; the old one stops working at once, and so do the tokens issued with it
   * (a rotation usually answers a leak).
   */
  async rotate(id: string, actor: Actor): Promise<MachineClientView & { clientSecret: string }> {
    const clientSecret = `${CLIENT_SECRET_PREFIX}${randomToken()}`;
    if (!(await this.repository.replaceSecret(id, sha256(clientSecret)))) {
      throw new DomainError('not_found', 'No such client.');
    }
    await this.sessions.revokeAllForUser(id, 'client_secret_rotated');
    await this.audit.record('client.secret_rotated', {
      actorId: actor.id,
      subject: id,
      ip: actor.ip,
    });
    return { ...toView((await this.repository.findById(id))!), clientSecret };
  }

  /** Disabling ends the client's live tokens at once (its service user's sessions). */
  async setDisabled(id: string, disabled: boolean, actor: Actor): Promise<MachineClientView> {
    const before = await this.repository.findById(id);
    if (!before) throw new DomainError('not_found', 'No such client.');
    await this.users.update(id, { disabled }, actor);
    if (before.disabled !== disabled) {
      await this.audit.record(disabled ? 'client.disabled' : 'client.enabled', {
        actorId: actor.id,
        subject: id,
        ip: actor.ip,
      });
    }
    return toView((await this.repository.findById(id))!);
  }

  /**
   * Client authentication (RFC 6749 §2.3.1) under the sign-in brute-force rules: the same
   * lockout per (client id, address) and per address as a password (LoginThrottleService).
   * Unknown, disabled and wrong-secret clients fail alike.
   */
  async authenticate(
    clientId: string,
    secret: string,
    ip: string,
  ): Promise<{ client: MachineClient; user: User }> {
    const found = await this.throttle.judge(`client:${clientId}`, ip, async () => {
      const client = CLIENT_ID_PATTERN.test(clientId)
        ? await this.repository.findById(clientId)
        : undefined;
      const given = Buffer.from(sha256(CLIENT_SECRET_PATTERN.test(secret) ? secret : ''));
      const expected = Buffer.from(client?.secretHash ?? DUMMY_HASH);
      const match = timingSafeEqual(given, expected) && CLIENT_SECRET_PATTERN.test(secret);
      if (!client || !match || client.disabled) return undefined;
      const user = await this.users.findById(client.id);
      return user && !user.disabled ? { client, user } : undefined;
    });
    if (!found) {
      await this.audit.record('client.auth_failed', {
        subject: clientId.slice(0, 64),
        ip,
      });
      throw new DomainError('invalid_client', 'Client authentication failed.');
    }
    return found;
  }
}
