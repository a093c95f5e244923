import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { type IssuedSession, SessionsService } from '../auth/sessions.service';
import { DomainError } from '../common/domain-error';
import type { EnabledOidcConfig } from '../config/oidc.config';
import { toUser, type User, USERNAME_PATTERN } from '../users/user';
import { UsersService } from '../users/users.service';
import type { VerifiedSignIn } from './oidc-client.service';
import { OidcIdentitiesRepository } from './oidc-identities.repository';
import { claimValues, isDistributed, mapAccess } from './role-mapping';
import { TeamGrants } from './team-grants';

/**
 * The ID token points to the role claim elsewhere (`isDistributed`) instead of holding it: the
 * sign-in is refused (`sso_error=roles_unavailable`), the user's roles and teams stay as they were.
 */
export class RoleClaimUnavailableError extends DomainError {
  constructor(claim: string) {
    super(
      'unprocessable',
      `The identity provider sent the '${claim}' claim as a pointer (_claim_names: too many ` +
        'groups for the token, e.g. Entra ID over 200 groups), which Keyward does not follow; ' +
        "map app roles instead (OIDC_ROLE_CLAIM=roles, docs/sso.md 'Microsoft Entra ID').",
    );
  }
}

/**
 * docs/sso.md "Users": turns a verified sign-in into a Keyward session. The user is found by
 * (issuer, subject) alone and created on first sign-in; roles follow OIDC_ROLE_MAP at every
 * sign-in, and losing one ends the user's other sessions (UsersService.update).
 */
@Injectable()
export class OidcLoginService {
  constructor(
    private readonly identities: OidcIdentitiesRepository,
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly teams: TeamGrants,
    private readonly audit: AuditService,
  ) {}

  async signIn(
    settings: EnabledOidcConfig,
    verified: VerifiedSignIn,
    ip: string,
  ): Promise<IssuedSession> {
    const { iss: issuer, sub: subject } = verified.claims;
    if (settings.roleMap.size > 0 && isDistributed(verified.claims, settings.roleClaim)) {
      // Before any user is created or changed: the roles are unknown, not empty.
      throw new RoleClaimUnavailableError(settings.roleClaim);
    }
    const access = mapAccess(claimValues(verified.claims, settings.roleClaim), settings.roleMap);
    let user = await this.findOrCreate(issuer, subject, verified.claims, access.roles, ip);
    if (user.disabled) {
      throw new DomainError('forbidden', 'This account is disabled.');
    }
    if (user.roles.join() !== access.roles.join()) {
      // Ends every session of the user when a role is lost, before the new one starts.
      user = await this.users.update(
        user.id,
        { roles: access.roles },
        { id: user.id, ip, via: 'sso' },
      );
    }
    await this.teams.apply(user.id, access.teams, settings.managedTeams, {
      id: user.id,
      ip,
      via: 'sso',
    });
    const session = await this.sessions.start(user, 'cookie');
    await this.identities.saveIdToken(session.sessionId, verified.idToken);
    await this.audit.record('login.sso', {
      actorId: user.id,
      subject: session.sessionId,
      ip,
      details: { kind: 'cookie', issuer, sub: subject },
    });
    return session;
  }

  private async findOrCreate(
    issuer: string,
    subject: string,
    claims: Record<string, unknown>,
    roles: User['roles'],
    ip: string,
  ): Promise<User> {
    const existing = await this.identities.findUser(issuer, subject);
    if (existing) return toUser(existing);
    for (const username of await this.usernameCandidates(issuer, subject, claims)) {
      const outcome = await this.identities.createLinkedUser({
        issuer,
        subject,
        username,
        roles: [...roles],
      });
      if (outcome.kind === 'taken') continue;
      if (outcome.kind === 'linked') break;
      const user = toUser(outcome.user);
      await this.audit.record('user.jit_created', {
        actorId: user.id,
        subject: user.id,
        ip,
        details: { username: user.username, roles: user.roles, issuer, sub: subject },
      });
      return user;
    }
    // Another sign-in of this subject created the user meanwhile.
    const linked = await this.identities.findUser(issuer, subject);
    if (!linked) throw new DomainError('conflict', 'No free username for this account.');
    return toUser(linked);
  }

  /**
   * The IdP's `preferred_username` (or e-mail, or name) made to fit USERNAME_PATTERN; when a
   * user of that name exists (a local account, or another IdP subject) a suffix derived from
   * the issuer and subject is added, never a link to that account.
   */
  private async usernameCandidates(
    issuer: string,
    subject: string,
    claims: Record<string, unknown>,
  ): Promise<string[]> {
    const wanted = [claims.preferred_username, claims.email, claims.name].find(
      (value): value is string => typeof value === 'string' && value.length > 0,
    );
    const base = (wanted ?? 'sso-user')
      .normalize('NFKD')
      .replace(/[^A-Za-z0-9_.@-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 50)
      .padEnd(3, '_');
    const digest = createHash('sha256').update(`${issuer}\n${subject}`).digest('hex');
    const candidates = [base, `${base}.sso-${digest.slice(0, 6)}`, `sso-${digest.slice(0, 20)}`];
    const usable: string[] = [];
    for (const candidate of candidates) {
      if (USERNAME_PATTERN.test(candidate) && !(await this.identities.usernameTaken(candidate))) {
        usable.push(candidate);
      }
    }
    return usable;
  }
}
