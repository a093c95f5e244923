import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import type { Role } from '../database/schema';
import { PasswordHasher } from './password-hasher';
import { checkPasswordPolicy } from './password-policy';
import { toUser, type User, USERNAME_PATTERN } from './user';
import { isUniqueViolation, type UserPatch, UsersRepository } from './users.repository';

export interface CreateUserInput {
  username: string;
  password: string;
  roles: Role[];
}

export interface UpdateUserInput {
  roles?: Role[];
  disabled?: boolean;
  password?: string;
  chatRpm?: number | null;
  chatDailyTokens?: number | null;
}

/** Who asked for a change, for the audit log. */
export interface Actor {
  readonly id?: string;
  readonly ip?: string;
}

/** Called when every session of a user must end (disable, password change, logout-all). */
export type SessionsEndedListener = (userId: string, validAfter: Date) => Promise<void> | void;

@Injectable()
export class UsersService {
  private readonly sessionsEndedListeners: SessionsEndedListener[] = [];

  constructor(
    private readonly repository: UsersRepository,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditService,
  ) {}

  /** The auth layer subscribes here; users know nothing of tokens (no module cycle). */
  onSessionsEnded(listener: SessionsEndedListener): void {
    this.sessionsEndedListeners.push(listener);
  }

  async create(input: CreateUserInput, actor: Actor = {}): Promise<User> {
    if (!USERNAME_PATTERN.test(input.username)) {
      throw new DomainError('validation_failed', 'The username is not valid.', {
        errors: [{ field: 'username', message: 'must be 3–64 characters of A-Z a-z 0-9 _ . @ -' }],
      });
    }
    this.assertPassword(input.password, input.username);
    const roles = [...new Set(input.roles.length ? input.roles : (['user'] as Role[]))];
    const passwordHash = await this.hasher.hash(input.password);
    try {
      const user = toUser(
        await this.repository.insert({ username: input.username, passwordHash, roles }),
      );
      await this.audit.record('user.created', {
        actorId: actor.id,
        subject: user.id,
        ip: actor.ip,
        details: { username: user.username, roles },
      });
      return user;
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new DomainError('conflict', 'A user with this username already exists.', {
          errors: [{ field: 'username', message: 'is taken' }],
        });
      }
      throw error;
    }
  }

  async get(id: string): Promise<User> {
    const row = await this.repository.findById(id);
    if (!row) throw new DomainError('not_found', 'No such user.');
    return toUser(row);
  }

  async findById(id: string): Promise<User | undefined> {
    const row = await this.repository.findById(id);
    return row && toUser(row);
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const row = await this.repository.findByUsername(username);
    return row && toUser(row);
  }

  async list(): Promise<User[]> {
    return (await this.repository.listAll()).map(toUser);
  }

  count(): Promise<number> {
    return this.repository.count();
  }

  /**
   * Checks a username and password, taking the same time whether or not the user exists
   * (the hasher verifies against a dummy hash). Disabled users fail like wrong passwords.
   */
  async verifyCredentials(username: string, password: string): Promise<User | undefined> {
    const row = USERNAME_PATTERN.test(username)
      ? await this.repository.findByUsername(username)
      : undefined;
    const ok = await this.hasher.verify(row?.passwordHash, password);
    if (!ok || !row || row.disabled) return undefined;
    return toUser(row);
  }

  async update(id: string, input: UpdateUserInput, actor: Actor = {}): Promise<User> {
    const before = await this.get(id);
    const patch: UserPatch = {};
    if (input.roles) patch.roles = [...new Set(input.roles)];
    if (input.disabled !== undefined) patch.disabled = input.disabled;
    if (input.chatRpm !== undefined) patch.chatRpm = input.chatRpm;
    if (input.chatDailyTokens !== undefined) patch.chatDailyTokens = input.chatDailyTokens;
    if (input.password !== undefined) {
      this.assertPassword(input.password, before.username);
      patch.passwordHash = await this.hasher.hash(input.password);
    }
    const endsSessions =
      input.password !== undefined || (input.disabled === true && !before.disabled);
    if (endsSessions) patch.tokensValidAfter = new Date();
    const row = await this.repository.update(id, patch);
    if (!row) throw new DomainError('not_found', 'No such user.');
    const after = toUser(row);
    const base = { actorId: actor.id, subject: id, ip: actor.ip };
    if (input.disabled !== undefined && input.disabled !== before.disabled) {
      await this.audit.record(input.disabled ? 'user.disabled' : 'user.enabled', base);
    }
    if (patch.roles && patch.roles.join() !== before.roles.join()) {
      await this.audit.record('user.roles_changed', {
        ...base,
        details: { from: before.roles, to: patch.roles },
      });
    }
    if (input.password !== undefined) await this.audit.record('user.password_changed', base);
    if (input.chatRpm !== undefined || input.chatDailyTokens !== undefined) {
      await this.audit.record('user.limits_changed', {
        ...base,
        details: { chatRpm: after.chatRpm, chatDailyTokens: after.chatDailyTokens },
      });
    }
    if (endsSessions && patch.tokensValidAfter) await this.endSessions(id, patch.tokensValidAfter);
    return after;
  }

  /** Ends every session of the user: access tokens issued before now stop working. */
  async endAllSessions(id: string): Promise<Date> {
    const validAfter = new Date();
    await this.repository.update(id, { tokensValidAfter: validAfter });
    await this.endSessions(id, validAfter);
    return validAfter;
  }

  private async endSessions(id: string, validAfter: Date): Promise<void> {
    for (const listener of this.sessionsEndedListeners) await listener(id, validAfter);
  }

  private assertPassword(password: string, username: string): void {
    const errors = checkPasswordPolicy(password, username);
    if (errors.length) {
      throw new DomainError('unprocessable', 'The password does not meet the password policy.', {
        errors,
      });
    }
  }
}
