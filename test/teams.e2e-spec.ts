import request from 'supertest';
import { createUser, login, type TestUser } from './support/auth-helpers';
import { createTestApp, type TestApp } from './support/test-app';

describe('Teams and key policy (management)', () => {
  let t: TestApp;
  let admin: string;
  let aliceUser: TestUser;
  let alice: string; // team_admin of A
  let bob: string; // team_admin of B
  let carolUser: TestUser;
  let carol: string; // member of A
  let teamA: string;
  let teamB: string;

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  /** `team`'s member list, as `token` sees it, has these members (user id → role), maybe more. */
  const expectMembers = async (team: string, token: string, roles: Record<string, string>) => {
    const members = await request(t.server)
      .get(`/api/v1/teams/${team}/members`)
      .set(bearer(token))
      .expect(200);
    expect(members.body).toEqual(
      expect.arrayContaining(
        Object.entries(roles).map(([userId, role]) => expect.objectContaining({ userId, role })),
      ),
    );
  };

  beforeAll(async () => {
    t = await createTestApp();
    admin = (await login(t, await createUser(t, ['admin'], 'admin'))).access_token;
    aliceUser = await createUser(t, ['user'], 'alice');
    const bobUser = await createUser(t, ['user'], 'bob');
    carolUser = await createUser(t, ['user'], 'carol');
    [alice, bob, carol] = await Promise.all(
      [aliceUser, bobUser, carolUser].map(async (u) => (await login(t, u)).access_token),
    );
    teamA = (
      await request(t.server)
        .post('/api/v1/admin/teams')
        .set(bearer(admin))
        .send({ name: `A-${Date.now()}`, dailyUsd: 5, models: ['gpt-4o-mini'], rpm: 100 })
        .expect(201)
    ).body.id;
    teamB = (
      await request(t.server)
        .post('/api/v1/admin/teams')
        .set(bearer(admin))
        .send({ name: `B-${Date.now()}` })
        .expect(201)
    ).body.id;
    for (const [team, user, role] of [
      [teamA, aliceUser.id, 'team_admin'],
      [teamA, carolUser.id, 'member'],
      [teamB, bobUser.id, 'team_admin'],
    ]) {
      await request(t.server)
        .put(`/api/v1/teams/${team}/members/${user}`)
        .set(bearer(admin))
        .send({ role })
        .expect(200);
    }
  });
  afterAll(() => t.close());

  it('shows a team with its limits, USD as numbers, null for no limit', async () => {
    const res = await request(t.server)
      .get(`/api/v1/admin/teams/${teamA}`)
      .set(bearer(admin))
      .expect(200);
    expect(res.body).toMatchObject({
      id: teamA,
      rpm: 100,
      dailyUsd: 5,
      monthlyUsd: null,
      dailyTokens: null,
      models: ['gpt-4o-mini'],
      logContent: false,
    });
    const patched = await request(t.server)
      .patch(`/api/v1/admin/teams/${teamA}`)
      .set(bearer(admin))
      .send({ monthlyTokens: 1000000, rpm: null })
      .expect(200);
    expect(patched.body).toMatchObject({ rpm: null, monthlyTokens: 1000000, dailyUsd: 5 });
  });

  it('refuses bad team input with 400, duplicate names with 409, non-admins with 403', async () => {
    await request(t.server)
      .post('/api/v1/admin/teams')
      .set(bearer(admin))
      .send({ name: 'x\u0000y' })
      .expect(400);
    await request(t.server)
      .post('/api/v1/admin/teams')
      .set(bearer(admin))
      .send({ name: 'neg', dailyUsd: -1 })
      .expect(400);
    const name = `dup-${Date.now()}`;
    await request(t.server)
      .post('/api/v1/admin/teams')
      .set(bearer(admin))
      .send({ name })
      .expect(201);
    await request(t.server)
      .post('/api/v1/admin/teams')
      .set(bearer(admin))
      .send({ name: name.toUpperCase() })
      .expect(409);
    await request(t.server)
      .post('/api/v1/admin/teams')
      .set(bearer(alice))
      .send({ name: 'z' })
      .expect(403);
  });

  it("lists the caller's teams with roles; admins see every team", async () => {
    const mine = await request(t.server).get('/api/v1/teams').set(bearer(carol)).expect(200);
    expect(mine.body).toEqual([expect.objectContaining({ id: teamA, role: 'member' })]);
    const all = await request(t.server).get('/api/v1/teams').set(bearer(admin)).expect(200);
    expect(all.body.map((team: { id: string }) => team.id)).toEqual(
      expect.arrayContaining([teamA, teamB]),
    );
  });

  it('lets a team admin manage their own team and nothing else (404, as for no team)', async () => {
    await expectMembers(teamA, alice, { [aliceUser.id]: 'team_admin', [carolUser.id]: 'member' });
    // Another team: every route answers as if the team did not exist.
    const missing = '00000000-0000-4000-8000-000000000000';
    for (const team of [teamB, missing]) {
      await request(t.server).get(`/api/v1/teams/${team}/members`).set(bearer(alice)).expect(404);
      await request(t.server).get(`/api/v1/teams/${team}/keys`).set(bearer(alice)).expect(404);
      await request(t.server)
        .put(`/api/v1/teams/${team}/members/${carolUser.id}`)
        .set(bearer(alice))
        .send({ role: 'team_admin' })
        .expect(404);
      await request(t.server)
        .delete(`/api/v1/teams/${team}/members/${carolUser.id}`)
        .set(bearer(alice))
        .expect(404);
    }
    // A plain member cannot manage their own team either.
    await request(t.server).get(`/api/v1/teams/${teamA}/members`).set(bearer(carol)).expect(404);
    await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(carol))
      .send({ name: 'sneaky', teamId: teamA })
      .expect(404);
    // Nor create a key for another team.
    await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(alice))
      .send({ name: 'sneaky', teamId: teamB })
      .expect(404);
    // Bob's team key is out of Alice's reach, even by id through her own team's route.
    const bobKey = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(bob))
      .send({ name: 'b', teamId: teamB })
      .expect(201);
    await request(t.server)
      .delete(`/api/v1/teams/${teamA}/keys/${bobKey.body.id}`)
      .set(bearer(alice))
      .expect(404);
    await request(t.server).get('/api/v1/auth/me').set(bearer(bobKey.body.key)).expect(200);
  });

  it('lets a team admin add a member by username (any case) or by id, exactly one of the two', async () => {
    const dave = await createUser(t, ['user'], 'dave');
    const erin = await createUser(t, ['user'], 'erin');
    const add = (team: string, token: string, body: object) =>
      request(t.server).post(`/api/v1/teams/${team}/members`).set(bearer(token)).send(body);
    const added = await add(teamA, alice, {
      username: dave.username.toUpperCase(),
      role: 'member',
    }).expect(201);
    expect(added.body).toMatchObject({ userId: dave.id, username: dave.username, role: 'member' });
    // Already a member: the role is set, 200.
    const rerolled = await add(teamA, alice, {
      username: dave.username,
      role: 'team_admin',
    }).expect(200);
    expect(rerolled.body).toMatchObject({ userId: dave.id, role: 'team_admin' });
    await add(teamA, alice, { userId: erin.id, role: 'member' }).expect(201);
    await expectMembers(teamA, alice, { [dave.id]: 'team_admin', [erin.id]: 'member' });

    // Exactly one of the two, well formed: 400 in problem+json.
    for (const bad of [
      { role: 'member' },
      { userId: erin.id, username: erin.username, role: 'member' },
      { username: 'a b', role: 'member' },
      { userId: 'not-a-uuid', role: 'member' },
      { username: erin.username, role: 'owner' },
    ]) {
      const res = await add(teamA, alice, bad).expect(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    // No such user: 404 in problem+json, nothing added.
    const unknown = await add(teamA, alice, { username: 'nobody-here', role: 'member' }).expect(
      404,
    );
    expect(unknown.headers['content-type']).toContain('application/problem+json');
    expect(unknown.body).toMatchObject({ status: 404, detail: 'No such user.' });
    await add(teamA, alice, {
      userId: '00000000-0000-4000-8000-000000000000',
      role: 'member',
    }).expect(404);
    // Another team's admin, a plain member: 404 as for no team, whoever they name.
    await add(teamB, alice, { username: dave.username, role: 'member' }).expect(404);
    await add(teamA, carol, { username: erin.username, role: 'team_admin' }).expect(404);
    // Admins add to any team.
    await add(teamB, admin, { username: erin.username, role: 'member' }).expect(201);
  });

  it('creates team keys with their policy; the team admin lists and revokes them', async () => {
    const created = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(alice))
      .send({
        name: 'ci',
        teamId: teamA,
        models: ['gpt-4o-mini'],
        rpm: 10,
        dailyTokens: 1000,
        dailyUsd: 0.5,
        allowedCidrs: ['127.0.0.1', '::1/128'],
        expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      })
      .expect(201);
    expect(created.body).toMatchObject({
      teamId: teamA,
      models: ['gpt-4o-mini'],
      rpm: 10,
      dailyTokens: 1000,
      dailyUsd: 0.5,
      allowedCidrs: ['127.0.0.1/32', '::1/128'],
      disabled: false,
      spend: { todayTokens: 0, monthTokens: 0, todayUsd: 0, monthUsd: 0 },
    });
    const listed = await request(t.server)
      .get(`/api/v1/teams/${teamA}/keys`)
      .set(bearer(alice))
      .expect(200);
    expect(listed.body.map((k: { id: string }) => k.id)).toContain(created.body.id);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(200);
    await request(t.server)
      .delete(`/api/v1/teams/${teamA}/keys/${created.body.id}`)
      .set(bearer(alice))
      .expect(204);
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(401);
  });

  it('refuses invalid CIDRs with 400 and a key used from outside its ranges with 403', async () => {
    for (const bad of ['10.0.0.0/33', 'not-an-ip', '1.2.3.4/x', '::g/64']) {
      const res = await request(t.server)
        .post('/api/v1/keys')
        .set(bearer(carol))
        .send({ name: 'n', allowedCidrs: [bad] })
        .expect(400);
      expect(JSON.stringify(res.body)).toContain('allowedCidrs');
    }
    const elsewhere = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(carol))
      .send({ name: 'office only', allowedCidrs: ['10.0.0.0/8', '2001:db8::/32'] })
      .expect(201);
    const refused = await request(t.server)
      .get('/api/v1/auth/me')
      .set(bearer(elsewhere.body.key))
      .expect(403);
    expect(refused.body.detail).toMatch(/not allowed from your address/);
    // IPv4-mapped IPv6 ranges match the IPv4 client they carry.
    const mapped = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(carol))
      .send({ name: 'loopback', allowedCidrs: ['::ffff:127.0.0.0/104'] })
      .expect(201);
    expect(mapped.body.allowedCidrs).toEqual(['127.0.0.0/8']);
    await request(t.server).get('/api/v1/auth/me').set(bearer(mapped.body.key)).expect(200);
  });

  it('rotates a key: same id, old secret refused at once, or after its grace', async () => {
    const created = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(carol))
      .send({ name: 'rotating', rpm: 7 })
      .expect(201);
    const rotated = await request(t.server)
      .post(`/api/v1/keys/${created.body.id}/rotate`)
      .set(bearer(carol))
      .send({})
      .expect(200);
    expect(rotated.body).toMatchObject({ id: created.body.id, rpm: 7, name: 'rotating' });
    expect(rotated.body.key).not.toBe(created.body.key);
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(401);
    await request(t.server).get('/api/v1/auth/me').set(bearer(rotated.body.key)).expect(200);

    const graced = await request(t.server)
      .post(`/api/v1/keys/${created.body.id}/rotate`)
      .set(bearer(carol))
      .send({ graceSeconds: 1 })
      .expect(200);
    await request(t.server).get('/api/v1/auth/me').set(bearer(rotated.body.key)).expect(200);
    await request(t.server).get('/api/v1/auth/me').set(bearer(graced.body.key)).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await request(t.server).get('/api/v1/auth/me').set(bearer(rotated.body.key)).expect(401);
    await request(t.server).get('/api/v1/auth/me').set(bearer(graced.body.key)).expect(200);
    // Someone else's key: not found.
    await request(t.server)
      .post(`/api/v1/keys/${created.body.id}/rotate`)
      .set(bearer(bob))
      .send({})
      .expect(404);
    await request(t.server)
      .post(`/api/v1/keys/${created.body.id}/rotate`)
      .set(bearer(carol))
      .send({ graceSeconds: -1 })
      .expect(400);
  });

  it('lets admins list, disable, enable and revoke any key, effective at once', async () => {
    const created = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(carol))
      .send({ name: 'watched' })
      .expect(201);
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(200);
    const list = await request(t.server)
      .get(`/api/v1/admin/keys?userId=${carolUser.id}`)
      .set(bearer(admin))
      .expect(200);
    expect(list.body).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          id: created.body.id,
          userId: carolUser.id,
          username: carolUser.username,
        }),
      ]),
    );
    const disabled = await request(t.server)
      .patch(`/api/v1/admin/keys/${created.body.id}`)
      .set(bearer(admin))
      .send({ disabled: true })
      .expect(200);
    expect(disabled.body).toMatchObject({ id: created.body.id, disabled: true });
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(401);
    await request(t.server)
      .patch(`/api/v1/admin/keys/${created.body.id}`)
      .set(bearer(admin))
      .send({ disabled: false })
      .expect(200);
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(200);
    await request(t.server)
      .delete(`/api/v1/admin/keys/${created.body.id}`)
      .set(bearer(admin))
      .expect(204);
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(401);
    await request(t.server).get('/api/v1/admin/keys').set(bearer(carol)).expect(403);
  });

  it("changes a key's policy after creation (owner, team admin, admin): validated as at creation, effective at once, audited", async () => {
    const created = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(carol))
      .send({ name: 'editable', rpm: 5, models: ['gpt-4o-mini'] })
      .expect(201);
    const id = created.body.id as string;
    // Verified and cached before the change: the change must still apply at once.
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(200);
    const changed = await request(t.server)
      .patch(`/api/v1/keys/${id}`)
      .set(bearer(carol))
      .send({
        name: 'edited',
        rpm: null,
        dailyUsd: 1.25,
        models: ['gpt-4o', 'gpt-4o'],
        allowedCidrs: ['10.1.2.3/8'],
      })
      .expect(200);
    expect(changed.body).toMatchObject({
      id,
      name: 'edited',
      rpm: null,
      dailyUsd: 1.25,
      models: ['gpt-4o'],
      allowedCidrs: ['10.0.0.0/8'],
      dailyTokens: null,
    });
    expect(changed.body).not.toHaveProperty('key');
    expect(changed.body).not.toHaveProperty('userId');
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(403);
    const listed = await request(t.server).get('/api/v1/keys').set(bearer(carol)).expect(200);
    expect(listed.body.find((k: { id: string }) => k.id === id)).toMatchObject({
      name: 'edited',
      dailyUsd: 1.25,
    });
    // Absent fields stay; null lifts a limit.
    const lifted = await request(t.server)
      .patch(`/api/v1/keys/${id}`)
      .set(bearer(carol))
      .send({ allowedCidrs: null })
      .expect(200);
    expect(lifted.body).toMatchObject({ allowedCidrs: null, dailyUsd: 1.25, name: 'edited' });
    await request(t.server).get('/api/v1/auth/me').set(bearer(created.body.key)).expect(200);

    // The creation rules: bad values, unknown or fixed fields, an empty change are 400.
    for (const bad of [
      { rpm: -1 },
      { dailyUsd: 'lots' },
      { models: ['has space'] },
      { allowedCidrs: ['10.0.0.0/33'] },
      { name: '' },
      { scopes: ['admin'] },
      { teamId: teamA },
      { expiresInDays: 3 },
      { disabled: true },
      {},
    ]) {
      const res = await request(t.server)
        .patch(`/api/v1/keys/${id}`)
        .set(bearer(carol))
        .send(bad)
        .expect(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    // Someone else's key, through the owner route: 404.
    await request(t.server)
      .patch(`/api/v1/keys/${id}`)
      .set(bearer(bob))
      .send({ rpm: 1 })
      .expect(404);

    const audit = await request(t.server)
      .get('/api/v1/admin/audit?limit=1000&event=api_key.updated')
      .set(bearer(admin))
      .expect(200);
    expect(audit.body).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actorId: carolUser.id,
          subject: id,
          details: {
            by: 'owner',
            owner: carolUser.id,
            changes: {
              name: 'edited',
              rpm: null,
              dailyUsd: 1.25,
              models: ['gpt-4o'],
              allowedCidrs: ['10.0.0.0/8'],
            },
          },
        }),
      ]),
    );

    // A team key: its team's admins change it through the team route, nobody else's team does.
    const teamKey = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(alice))
      .send({ name: 'team-ci', teamId: teamA, dailyTokens: 100 })
      .expect(201);
    const byTeamAdmin = await request(t.server)
      .patch(`/api/v1/teams/${teamA}/keys/${teamKey.body.id}`)
      .set(bearer(alice))
      .send({ dailyTokens: 200, monthlyUsd: 3 })
      .expect(200);
    expect(byTeamAdmin.body).toMatchObject({
      id: teamKey.body.id,
      teamId: teamA,
      dailyTokens: 200,
      monthlyUsd: 3,
      userId: aliceUser.id,
      username: aliceUser.username,
    });
    for (const [team, token] of [
      [teamB, alice], // not her team
      [teamB, bob], // his team, not its key
      [teamA, bob], // not his team
      [teamA, carol], // a plain member
    ]) {
      await request(t.server)
        .patch(`/api/v1/teams/${team}/keys/${teamKey.body.id}`)
        .set(bearer(token))
        .send({ dailyTokens: 1 })
        .expect(404);
    }
    // A personal key is no team's.
    await request(t.server)
      .patch(`/api/v1/teams/${teamA}/keys/${id}`)
      .set(bearer(alice))
      .send({ rpm: 1 })
      .expect(404);

    // Admins change any key, and may switch it off in the same request.
    const byAdmin = await request(t.server)
      .patch(`/api/v1/admin/keys/${teamKey.body.id}`)
      .set(bearer(admin))
      .send({ rpm: 3, disabled: true })
      .expect(200);
    expect(byAdmin.body).toMatchObject({ rpm: 3, disabled: true, dailyTokens: 200 });
    await request(t.server).get('/api/v1/auth/me').set(bearer(teamKey.body.key)).expect(401);
    await request(t.server)
      .patch(`/api/v1/admin/keys/${teamKey.body.id}`)
      .set(bearer(admin))
      .send({ rpm: 'fast' })
      .expect(400);
    await request(t.server)
      .patch(`/api/v1/admin/keys/00000000-0000-4000-8000-000000000000`)
      .set(bearer(admin))
      .send({ rpm: 3 })
      .expect(404);
  });

  it("keeps a team key's limits the team's: its owner may not change them once no longer its team admin", async () => {
    const team = (
      await request(t.server)
        .post('/api/v1/admin/teams')
        .set(bearer(admin))
        .send({ name: `demote-${Date.now()}` })
        .expect(201)
    ).body.id as string;
    await request(t.server)
      .put(`/api/v1/teams/${team}/members/${carolUser.id}`)
      .set(bearer(admin))
      .send({ role: 'team_admin' })
      .expect(200);
    const key = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(carol))
      .send({ name: 'capped', teamId: team, dailyTokens: 10 })
      .expect(201);
    await request(t.server)
      .patch(`/api/v1/keys/${key.body.id}`)
      .set(bearer(carol))
      .send({ dailyTokens: 20 })
      .expect(200);
    await request(t.server)
      .put(`/api/v1/teams/${team}/members/${carolUser.id}`)
      .set(bearer(admin))
      .send({ role: 'member' })
      .expect(200);
    const refused = await request(t.server)
      .patch(`/api/v1/keys/${key.body.id}`)
      .set(bearer(carol))
      .send({ dailyTokens: null })
      .expect(403);
    expect(refused.body.detail).toMatch(/team's to set/);
    const list = await request(t.server).get('/api/v1/keys').set(bearer(carol)).expect(200);
    expect(list.body.find((k: { id: string }) => k.id === key.body.id)).toMatchObject({
      dailyTokens: 20,
    });
  });

  it("revokes a deleted team's keys", async () => {
    const team = (
      await request(t.server)
        .post('/api/v1/admin/teams')
        .set(bearer(admin))
        .send({ name: `gone-${Date.now()}` })
        .expect(201)
    ).body.id;
    const key = await request(t.server)
      .post('/api/v1/keys')
      .set(bearer(admin))
      .send({ name: 'team', teamId: team })
      .expect(201);
    await request(t.server).get('/api/v1/auth/me').set(bearer(key.body.key)).expect(200);
    await request(t.server).delete(`/api/v1/admin/teams/${team}`).set(bearer(admin)).expect(204);
    await request(t.server).get('/api/v1/auth/me').set(bearer(key.body.key)).expect(401);
    await request(t.server).get(`/api/v1/admin/teams/${team}`).set(bearer(admin)).expect(404);
  });
});
