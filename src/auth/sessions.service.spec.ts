import { fakeConfig } from '../../test/support/fakes/fake-config';
import { FakeSessionsRepository } from '../../test/support/fakes/fake-sessions.repository';
import type { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import type { User } from '../users/user';
import type { UsersService } from '../users/users.service';
import type { AccessTokenService } from './access-token.service';
import type { RevocationService } from './revocation.service';
import { SessionsService } from './sessions.service';

const HOUR = 3600;
const IDLE = 24 * HOUR;
const ABSOLUTE = 3 * 24 * HOUR;

const alice: User = {
  id: 'u-alice',
  username: 'alice',
  roles: ['user'],
  disabled: false,
  chatRpm: null,
  chatDailyTokens: null,
  machine: false,
  createdAt: new Date(0),
};

function setUp() {
  const repository = new FakeSessionsRepository();
  const revoked: string[] = [];
  const revocation = {
    revoke: jest.fn((ids: string[]) => Promise.resolve(void revoked.push(...ids))),
  };
  const audit = { record: jest.fn(() => Promise.resolve()) };
  let issued = 0;
  const accessTokens = {
    issue: (user: User, sessionId: string) => ({
      token: `access-${user.id}-${sessionId}-${++issued}`,
      expiresIn: 600,
    }),
  };
  const users = {
    findById: (id: string) =>
      Promise.resolve(
        id === alice.id ? { ...alice, disabled: repository.disabledUsers.has(id) } : undefined,
      ),
    onSessionsEnded: jest.fn(),
  };
  const service = new SessionsService(
    repository.asRepository(),
    accessTokens as unknown as AccessTokenService,
    revocation as unknown as RevocationService,
    users as unknown as UsersService,
    audit as unknown as AuditService,
    fakeConfig({ auth: { refreshIdleTtl: IDLE, refreshAbsoluteTtl: ABSOLUTE } }),
  );
  return { service, repository, revoked, audit };
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (error: unknown) => (error instanceof DomainError ? error.code : String(error)),
  );

describe(SessionsService.name, () => {
  const start = Date.parse('2026-11-30T00:00:00Z');
  beforeEach(() => jest.useFakeTimers({ now: start, doNotFake: ['nextTick', 'setImmediate'] }));
  afterEach(() => jest.useRealTimers());
  const advance = (seconds: number) => jest.setSystemTime(Date.now() + seconds * 1000);

  it('starts a session whose refresh token dies after the idle time', async () => {
    const { service } = setUp();
    const session = await service.start(alice, 'token');
    expect(session.refreshExpiresAt.getTime()).toBe(start + IDLE * 1000);
    expect(session.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.accessToken).toContain(session.sessionId);
  });

  it('rotates on every use: a new refresh token, the old one spent', async () => {
    const { service } = setUp();
    const first = await service.start(alice, 'token');
    const second = await service.refresh(first.refreshToken, 'token');
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(await refusal(service.refresh(second.refreshToken, 'token'))).toBe('accepted');
  });

  it('treats a rotated token presented again as theft: the whole family is revoked and audited', async () => {
    const { service, revoked, audit } = setUp();
    const first = await service.start(alice, 'token');
    const second = await service.refresh(first.refreshToken, 'token');
    expect(await refusal(service.refresh(first.refreshToken, 'token', { ip: '203.0.113.9' }))).toBe(
      'invalid_grant',
    );
    expect(revoked).toEqual([first.sessionId]);
    expect(audit.record).toHaveBeenCalledWith('refresh.reused', {
      actorId: alice.id,
      subject: first.sessionId,
      ip: '203.0.113.9',
    });
    // The thief's copy and the legitimate successor are both dead now.
    expect(await refusal(service.refresh(second.refreshToken, 'token'))).toBe('invalid_grant');
  });

  it('lets a refresh token unused for the idle time die', async () => {
    const { service } = setUp();
    const session = await service.start(alice, 'token');
    advance(IDLE - 1);
    const kept = await service.refresh(session.refreshToken, 'token');
    // Each rotation restarts the idle clock.
    expect(kept.refreshExpiresAt.getTime()).toBe(Date.now() + IDLE * 1000);
    advance(IDLE);
    expect(await refusal(service.refresh(kept.refreshToken, 'token'))).toBe('invalid_grant');
  });

  it('never extends a session past the absolute time from login, however often it rotates', async () => {
    const { service } = setUp();
    let session = await service.start(alice, 'token');
    const end = start + ABSOLUTE * 1000;
    while (Date.now() + (IDLE / 2) * 1000 < end) {
      advance(IDLE / 2);
      session = await service.refresh(session.refreshToken, 'token');
      expect(session.refreshExpiresAt.getTime()).toBeLessThanOrEqual(end);
    }
    expect(session.refreshExpiresAt.getTime()).toBe(end);
    jest.setSystemTime(end);
    expect(await refusal(service.refresh(session.refreshToken, 'token'))).toBe('invalid_grant');
  });

  it('keeps token and cookie sessions apart', async () => {
    const { service } = setUp();
    const cookie = await service.start(alice, 'cookie');
    expect(await refusal(service.refresh(cookie.refreshToken, 'token'))).toBe('invalid_grant');
  });

  it('refuses to rotate for a disabled user, and an unknown token', async () => {
    const { service, repository } = setUp();
    const session = await service.start(alice, 'token');
    repository.disabledUsers.add(alice.id);
    expect(await refusal(service.refresh(session.refreshToken, 'token'))).toBe('invalid_grant');
    expect(await refusal(service.refresh('never-issued', 'token'))).toBe('invalid_grant');
  });

  it('ends every session of a user at once, telling the revocation list', async () => {
    const { service, revoked } = setUp();
    const a = await service.start(alice, 'token');
    const b = await service.start(alice, 'cookie');
    expect(await service.revokeAllForUser(alice.id, 'user_changed')).toBe(2);
    expect(revoked.sort()).toEqual([a.sessionId, b.sessionId].sort());
    expect(await refusal(service.refresh(a.refreshToken, 'token'))).toBe('invalid_grant');
  });

  it('revokes the session of a refresh token (RFC 7009) and ignores unknown ones', async () => {
    const { service, revoked } = setUp();
    const session = await service.start(alice, 'cookie');
    expect(await service.revokeByRefreshToken('unknown')).toBeUndefined();
    expect(await service.revokeByRefreshToken(session.refreshToken)).toEqual({
      sessionId: session.sessionId,
      userId: alice.id,
    });
    expect(revoked).toEqual([session.sessionId]);
  });
});
