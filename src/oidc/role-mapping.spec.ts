import { type RoleGrant, parseRoleGrant } from '../config/oidc.config';
import { claimValues, isDistributed, mapAccess } from './role-mapping';

const map = new Map<string, RoleGrant[]>([
  ['kw-admins', [{ kind: 'role', role: 'admin' }]],
  ['kw-users', [{ kind: 'role', role: 'user' }]],
  ['ops', [{ kind: 'team', team: 'ops', role: 'member' }]],
  ['ops-leads', [{ kind: 'team', team: 'ops', role: 'team_admin' }]],
]);

describe(mapAccess.name, () => {
  it('maps groups to roles and teams; the stronger team role wins', () => {
    const access = mapAccess(['kw-admins', 'kw-users', 'ops-leads', 'ops', 'unknown'], map);
    expect(access.roles).toEqual(['admin', 'user']);
    expect([...access.teams]).toEqual([['ops', 'team_admin']]);
  });

  it('gives user when no group maps to a role', () => {
    expect(mapAccess([], map).roles).toEqual(['user']);
    expect(mapAccess(['ops'], map).roles).toEqual(['user']);
  });
});

describe(claimValues.name, () => {
  it('reads a list or one string and ignores anything else', () => {
    expect(claimValues({ groups: ['a', 1, 'b', null] }, 'groups')).toEqual(['a', 'b']);
    expect(claimValues({ groups: 'a' }, 'groups')).toEqual(['a']);
    expect(claimValues({ groups: { src: 'overage' } }, 'groups')).toEqual([]);
    expect(claimValues({}, 'groups')).toEqual([]);
  });
});

describe(parseRoleGrant.name, () => {
  it('accepts admin, user and team:<name>:<member|team_admin>', () => {
    expect(parseRoleGrant('admin')).toEqual({ kind: 'role', role: 'admin' });
    expect(parseRoleGrant('team:data:science:member')).toEqual({
      kind: 'team',
      team: 'data:science',
      role: 'member',
    });
  });

  it.each([
    ['root'],
    ['team::member'],
    ['team:ops:owner'],
    ['team:ops'],
    ['team:\u0000:member'],
    [7],
  ])('refuses %j', (value) => {
    expect(parseRoleGrant(value)).toBeUndefined();
  });
});

describe(isDistributed.name, () => {
  it('is true only when _claim_names names that claim', () => {
    const overage = { _claim_names: { groups: 'src1' }, _claim_sources: { src1: {} } };
    expect(isDistributed(overage, 'groups')).toBe(true);
    expect(isDistributed(overage, 'roles')).toBe(false);
    expect(isDistributed({ groups: ['a'] }, 'groups')).toBe(false);
    expect(isDistributed({ _claim_names: null }, 'groups')).toBe(false);
    // An inherited property is not a claim name.
    expect(isDistributed({ _claim_names: {} }, 'toString')).toBe(false);
  });
});
