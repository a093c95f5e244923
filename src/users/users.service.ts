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
  /** What made the change when it is not an admin request (`sso`: a single sign-on). */
  readonly via?: string;
}

/** Why a change to a user ends their sign-ins. */
export type CredentialsEndReason = 'disabled' | 'password_reset' | 'roles_removed';

/**
 * A user's sessions must end (disable, password reset, role removal); with `endKeys` their
 * API keys too (a password reset: whoever knew the old password may have minted keys).
 */
export interface CredentialsEnded {
  readonly userId: string;
  readonly reason: CredentialsEndReason;
  readonly endKeys: boolean;
  readonly actor: Actor;
}
export type CredentialsEndedListener = (event: CredentialsEnded) => Promise<void> | void;

/**
 * What a change ends, judged from the request (not only from the stored state), so a retry
 * of a half-done disable or password reset ends the sessions again.
 */
function endingOf(
  before: User,
  input: UpdateUserInput,
): { reason: CredentialsEndReason; endKeys: boolean } | undefined {
  if (input.password !== undefined) return { reason: 'password_reset', endKeys: true };
  if (input.disabled === true) return { reason: 'disabled', endKeys: false };
  if (input.roles && before.roles.some((role) => !input.roles!.includes(role)))
    return { reason: 'roles_removed', endKeys: false };
  return undefined;
}

@Injectable()
export class UsersService {
  private readonly credentialsEndedListeners: CredentialsEndedListener[] = [];

  constructor(
    private readonly repository: UsersRepository,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditService,
  ) {}

  /** The auth layer subscribes here; users know nothing of tokens (no module cycle). */
  onCredentialsEnded(listener: CredentialsEndedListener): void {
    this.credentialsEndedListeners.push(listener);
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
    const ok = await this.hasher.verify(row?.passwordHash ?? undefined, password);
    if (!ok || !row || row.disabled || row.machine) return undefined;
    return toUser(row);
  }

  async update(id: string, input: UpdateUserInput, actor: Actor = {}): Promise<User> {
    const before = await this.get(id);
    if (before.machine && (input.password !== undefined || input.roles !== undefined)) {
      throw new DomainError(
        'conflict',
        'This is the service user of a machine client: manage its secret and scopes with /api/v1/admin/clients.',
      );
    }
    const patch: UserPatch = {};
    if (input.roles) patch.roles = [...new Set(input.roles)];
    if (input.disabled !== undefined) patch.disabled = input.disabled;
    if (input.chatRpm !== undefined) patch.chatRpm = input.chatRpm;
    if (input.chatDailyTokens !== undefined) patch.chatDailyTokens = input.chatDailyTokens;
    if (input.password !== undefined) {
      this.assertPassword(input.password, before.username);
      patch.passwordHash = await this.hasher.hash(input.password);
    }
    const ending = endingOf(before, input);
    // Sessions (and keys) end first, idempotently: if anything below fails, the change is
    // half done on the safe side, and a retry of the same request repeats this and finishes.
    if (ending) await this.endCredentials(id, ending, actor);
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
        details: { from: before.roles, to: patch.roles, ...(actor.via ? { via: actor.via } : {}) },
      });
    }
    if (input.password !== undefined) await this.audit.record('user.password_changed', base);
    if (input.chatRpm !== undefined || input.chatDailyTokens !== undefined) {
      await this.audit.record('user.limits_changed', {
        ...base,
        details: { chatRpm: after.chatRpm, chatDailyTokens: after.chatDailyTokens },
      });
    }
    // Again after the change: a sign-in between the two steps still saw the old roles or password.
    if (ending) await this.endCredentials(id, ending, actor);
    return after;
  }

  /**
   * A user's own password change (POST /api/v1/auth/password): the caller has checked the
   * current password and ends the other sessions; this applies the policy, stores the new
   * hash and records the event.
   */
  async changeOwnPassword(id: string, password: string, actor: Actor = {}): Promise<void> {
    const user = await this.get(id);
    this.assertPassword(password, user.username);
    const row = await this.repository.update(id, {
      passwordHash: await this.hasher.hash(password),
    });
    if (!row) throw new DomainError('not_found', 'No such user.');
    await this.audit.record('user.password_changed', {
      actorId: actor.id,
      subject: id,
      ip: actor.ip,
      details: { self: true },
    });
  }

  /** The policy check alone, so a caller can refuse a bad new password before anything else. */
  checkPassword(password: string, username: string): void {
    this.assertPassword(password, username);
  }

  private async endCredentials(
    userId: string,
    ending: { reason: CredentialsEndReason; endKeys: boolean },
    actor: Actor,
  ): Promise<void> {
    for (const listener of this.credentialsEndedListeners) {
      await listener({ userId, ...ending, actor });
    }
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
