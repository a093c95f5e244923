import request from 'supertest';
import { decodeProtectedHeader, decodeJwt } from 'jose';
import { forgeJwt } from './support/auth-helpers';
import { type ChatHarness, type ChatUser, startChatHarness } from './support/chat-harness';

const BILLING = 'https://billing.corp.example';
const PUBLIC_URL = 'https://keyward.corp.example';

interface CreatedClient {
  id: string;
  clientId: string;
  clientSecret: string;
  name: string;
  scopes: string[];
  createdAt: string;
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('Machine clients (client_credentials), RFC 8707 resources and RFC 7662 introspection', () => {
  let h: ChatHarness;
  let admin: ChatUser;
  let user: ChatUser;

  beforeAll(async () => {
    h = await startChatHarness({
      JWT_RESOURCES: JSON.stringify([BILLING]),
      PUBLIC_URL: `${PUBLIC_URL}/`,
    });
    admin = await h.newUser({ roles: ['admin', 'user'] });
    user = await h.newUser();
  });
  afterAll(() => h.close());

  const createClient = async (
    body: object = { name: 'billing-service', scopes: ['chat', 'usage'] },
  ) =>
    (
      await request(h.t.server)
        .post('/api/v1/admin/clients')
        .set(bearer(admin.jwt))
        .send(body)
        .expect(201)
    ).body as CreatedClient;

  const clientToken = (client: CreatedClient, form: Record<string, string> = {}) =>
    request(h.t.server)
      .post('/api/v1/auth/token')
      .set('Authorization', basic(client.clientId, client.clientSecret))
      .type('form')
      .send({ grant_type: 'client_credentials', ...form });

  it('registers a client with a secret shown once; only admins can', async () => {
    const client = await createClient();
    expect(client).toMatchObject({ name: 'billing-service', scopes: ['chat', 'usage'] });
    expect(client.clientId).toBe(client.id);
    expect(client.clientSecret).toMatch(/^kwcs_[A-Za-z0-9_-]{43}$/);
    const list = await request(h.t.server)
      .get('/api/v1/admin/clients')
      .set(bearer(admin.jwt))
      .expect(200);
    expect(list.body).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: client.id, disabled: false })]),
    );
    expect(JSON.stringify(list.body)).not.toContain(client.clientSecret);
    await request(h.t.server)
      .post('/api/v1/admin/clients')
      .set(bearer(user.jwt))
      .send({ name: 'x', scopes: ['chat'] })
      .expect(403);
    for (const body of [
      { name: 'x', scopes: ['keys'] },
      { name: 'x', scopes: [] },
      { name: 'x\u0000y', scopes: ['chat'] },
      { name: 'x', scopes: ['chat'], secret: 'mine' },
    ]) {
      await request(h.t.server)
        .post('/api/v1/admin/clients')
        .set(bearer(admin.jwt))
        .send(body)
        .expect(400);
    }
  });

  it('issues an RFC 9068 token with sub = client_id = the client id and no refresh token', async () => {
    const client = await createClient();
    const res = await clientToken(client).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'chat usage' });
    expect(res.body.refresh_token).toBeUndefined();
    const header = decodeProtectedHeader(res.body.access_token);
    expect(header.typ).toBe('at+jwt');
    const claims = decodeJwt(res.body.access_token);
    expect(claims).toMatchObject({ sub: client.id, client_id: client.id, aud: 'keyward-api' });

    // client_secret_post works too, and a narrower scope is honoured.
    const posted = await request(h.t.server)
      .post('/api/v1/auth/token')
      .send({
        grant_type: 'client_credentials',
        client_id: client.clientId,
        client_secret: client.clientSecret,
        scope: 'chat',
      })
      .expect(200);
    expect(posted.body.scope).toBe('chat');
    // Only chat: the usage report is refused.
    await request(h.t.server)
      .get('/api/v1/usage')
      .set(bearer(posted.body.access_token))
      .expect(403);

    const scoped = await clientToken(client, { scope: 'chat admin' }).expect(400);
    expect(scoped.body.error).toBe('invalid_scope');
  });

  it('accounts a client’s chat usage and limits on its service user', async () => {
    const client = await createClient();
    // Its service user is listed as such; an admin sets its limits there.
    const service = await request(h.t.server)
      .get(`/api/v1/admin/users/${client.id}`)
      .set(bearer(admin.jwt))
      .expect(200);
    expect(service.body).toMatchObject({ machine: true, disabled: false, roles: ['user'] });
    // The users list is people by default; a filter adds the service users, or lists them alone.
    const listed = async (query: string) =>
      (
        await request(h.t.server)
          .get(`/api/v1/admin/users${query}`)
          .set(bearer(admin.jwt))
          .expect(200)
      ).body as Array<{ id: string; machine: boolean }>;
    const people = await listed('');
    expect(people.some((u) => u.id === admin.id)).toBe(true);
    expect(people.every((u) => !u.machine)).toBe(true);
    expect((await listed('?machine=include')).map((u) => u.id)).toEqual(
      expect.arrayContaining([admin.id, client.id]),
    );
    const machines = await listed('?machine=only');
    expect(machines.map((u) => u.id)).toContain(client.id);
    expect(machines.every((u) => u.machine)).toBe(true);
    await request(h.t.server)
      .get('/api/v1/admin/users?machine=yes')
      .set(bearer(admin.jwt))
      .expect(400);
    await request(h.t.server)
      .patch(`/api/v1/admin/users/${client.id}`)
      .set(bearer(admin.jwt))
      .send({ chatRpm: 1 })
      .expect(200);

    const token = (await clientToken(client).expect(200)).body.access_token as string;
    const completion = await h.client(token).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(completion.choices[0].message.content).toBeTruthy();
    await expect(
      h.client(token).chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'again' }],
      }),
    ).rejects.toMatchObject({ status: 429 });
    const usage = await request(h.t.server).get('/api/v1/usage').set(bearer(token)).expect(200);
    expect(usage.body.totals.requests).toBe(1);
    expect(usage.body.limits.requestsPerMinute).toBe(1);
    const byAdmin = await request(h.t.server)
      .get(`/api/v1/admin/usage?userId=${client.id}`)
      .set(bearer(admin.jwt))
      .expect(200);
    expect(byAdmin.body.totals.requests).toBe(1);

    // No password or roles for a service user, and no password sign-in.
    await request(h.t.server)
      .patch(`/api/v1/admin/users/${client.id}`)
      .set(bearer(admin.jwt))
      .send({ password: 'a-long-Unusual-pass-43' })
      .expect(409);
    await request(h.t.server)
      .patch(`/api/v1/admin/users/${client.id}`)
      .set(bearer(admin.jwt))
      .send({ roles: ['admin'] })
      .expect(409);
    await request(h.t.server)
      .post('/api/v1/auth/token')
      .send({
        grant_type: 'password',
        username: service.body.username,
        password: '!machine-client',
      })
      .expect(400);
    // Account management is not a machine's: no keys scope.
    await request(h.t.server)
      .post('/api/v1/keys')
      .set(bearer(token))
      .send({ name: 'k' })
      .expect(403);
    await request(h.t.server)
      .post('/api/v1/auth/password')
      .set(bearer(token))
      .send({ currentPassword: 'x', newPassword: 'a-long-Unusual-pass-44' })
      .expect(403);
  });

  it('refuses bad client credentials with invalid_client, and locks out guessing like sign-in', async () => {
    const client = await createClient();
    const wrong = await request(h.t.server)
      .post('/api/v1/auth/token')
      .set('Authorization', basic(client.clientId, `kwcs_${'A'.repeat(43)}`))
      .send({ grant_type: 'client_credentials' })
      .expect(401);
    expect(wrong.body.error).toBe('invalid_client');
    expect(wrong.headers['www-authenticate']).toMatch(/^Basic /);
    for (const authorization of [
      'Basic !!!',
      basic('not-a-uuid', client.clientSecret),
      basic('00000000-0000-4000-8000-000000000000', client.clientSecret),
      // Form-encoded NUL and control characters, an over-long id: refused, never a 500.
      basic(`${client.clientId}\u0000`, client.clientSecret),
      basic(client.clientId, `${client.clientSecret}\r\n`),
      basic('x'.repeat(5000), client.clientSecret),
      `Basic ${Buffer.from(`${client.clientId}%E0%A4%A:x`).toString('base64')}`,
    ]) {
      const res = await request(h.t.server)
        .post('/api/v1/auth/token')
        .set('Authorization', authorization)
        .send({ grant_type: 'client_credentials' });
      expect({ authorization, status: res.status }).toEqual({ authorization, status: 401 });
    }
    const none = await request(h.t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'client_credentials' })
      .expect(401);
    expect(none.body.error).toBe('invalid_client');
    // Two methods at once (RFC 6749 §2.3).
    await request(h.t.server)
      .post('/api/v1/auth/token')
      .set('Authorization', basic(client.clientId, client.clientSecret))
      .send({ grant_type: 'client_credentials', client_secret: client.clientSecret })
      .expect(400);

    // Parallel guesses: at most the allowed failures are judged, then 429 even for the right secret.
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        request(h.t.server)
          .post('/api/v1/auth/token')
          .send({
            grant_type: 'client_credentials',
            client_id: client.clientId,
            client_secret: `kwcs_${String(i).padStart(43, 'B')}`,
          }),
      ),
    );
    const statuses = guesses.map((res) => res.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    // Guesses turned away as "in progress" were not judged: a few more, one at a time, reach
    // the lock (5 failures) whatever the timing of the burst.
    let status = 401;
    for (let i = 0; i < 6 && status === 401; i += 1) {
      status = (
        await request(h.t.server)
          .post('/api/v1/auth/token')
          .set('Authorization', basic(client.clientId, `kwcs_${String(i).padStart(43, 'C')}`))
          .send({ grant_type: 'client_credentials' })
      ).status;
    }
    expect(status).toBe(429);
    const locked = await clientToken(client).expect(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('ends a disabled client’s live tokens at once and refuses new ones; rotation replaces the secret', async () => {
    const client = await createClient();
    const token = (await clientToken(client).expect(200)).body.access_token as string;
    await request(h.t.server).get('/api/v1/auth/me').set(bearer(token)).expect(200);
    const disabled = await request(h.t.server)
      .patch(`/api/v1/admin/clients/${client.id}`)
      .set(bearer(admin.jwt))
      .send({ disabled: true })
      .expect(200);
    expect(disabled.body).toMatchObject({ id: client.id, disabled: true });
    await request(h.t.server).get('/api/v1/auth/me').set(bearer(token)).expect(401);
    await clientToken(client).expect(401);
    await request(h.t.server)
      .patch(`/api/v1/admin/clients/${client.id}`)
      .set(bearer(admin.jwt))
      .send({ disabled: false })
      .expect(200);
    const fresh = (await clientToken(client).expect(200)).body.access_token as string;

    const rotated = await request(h.t.server)
      .post(`/api/v1/admin/clients/${client.id}/rotate`)
      .set(bearer(admin.jwt))
      .expect(200);
    expect(rotated.body.clientSecret).toMatch(/^kwcs_/);
    expect(rotated.body.clientSecret).not.toBe(client.clientSecret);
    await clientToken(client).expect(401);
    await request(h.t.server).get('/api/v1/auth/me').set(bearer(fresh)).expect(401);
    await clientToken({ ...client, clientSecret: rotated.body.clientSecret }).expect(200);

    await request(h.t.server)
      .post('/api/v1/admin/clients/00000000-0000-4000-8000-000000000000/rotate')
      .set(bearer(admin.jwt))
      .expect(404);
    await request(h.t.server)
      .patch('/api/v1/admin/clients/not-a-uuid')
      .set(bearer(admin.jwt))
      .send({ disabled: true })
      .expect(400);

    const audit = await request(h.t.server)
      .get('/api/v1/admin/audit?limit=1000')
      .set(bearer(admin.jwt))
      .expect(200);
    const events = (audit.body as { event: string; subject: string }[])
      .filter((row) => row.subject === client.id)
      .map((row) => row.event);
    expect(events).toEqual(
      expect.arrayContaining([
        'client.created',
        'client.token_issued',
        'client.disabled',
        'client.enabled',
        'client.secret_rotated',
      ]),
    );
  });

  it('issues a token for one named service (RFC 8707) that Keyward itself refuses', async () => {
    const client = await createClient();
    const res = await clientToken(client, { resource: BILLING }).expect(200);
    expect(decodeJwt(res.body.access_token).aud).toBe(BILLING);
    await request(h.t.server).get('/api/v1/auth/me').set(bearer(res.body.access_token)).expect(401);
    await expect(h.client(res.body.access_token).models.list()).rejects.toMatchObject({
      status: 401,
    });

    const unknown = await clientToken(client, { resource: 'https://other.example' }).expect(400);
    expect(unknown.body.error).toBe('invalid_target');

    // Password and refresh grants take it too; without it the audience is Keyward's.
    const password = await request(h.t.server)
      .post('/api/v1/auth/token')
      .send({
        grant_type: 'password',
        username: user.username,
        password: 'a-long-Unusual-pass-42',
        resource: BILLING,
      })
      .expect(200);
    expect(decodeJwt(password.body.access_token).aud).toBe(BILLING);
    const refreshed = await request(h.t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'refresh_token', refresh_token: password.body.refresh_token })
      .expect(200);
    expect(decodeJwt(refreshed.body.access_token).aud).toBe('keyward-api');
    const again = await request(h.t.server)
      .post('/api/v1/auth/token')
      .send({
        grant_type: 'refresh_token',
        refresh_token: refreshed.body.refresh_token,
        resource: BILLING,
      })
      .expect(200);
    expect(decodeJwt(again.body.access_token).aud).toBe(BILLING);
  });

  it('introspects tokens for registered clients only (RFC 7662)', async () => {
    const service = await createClient({ name: 'introspector', scopes: ['chat'] });
    const introspect = (token: string) =>
      request(h.t.server)
        .post('/api/v1/auth/introspect')
        .set('Authorization', basic(service.clientId, service.clientSecret))
        .type('form')
        .send({ token });

    const unauthenticated = await request(h.t.server)
      .post('/api/v1/auth/introspect')
      .send({ token: user.jwt })
      .expect(401);
    expect(unauthenticated.body.error).toBe('invalid_client');

    const session = await request(h.t.server)
      .post('/api/v1/auth/token')
      .send({ grant_type: 'password', username: user.username, password: 'a-long-Unusual-pass-42' })
      .expect(200);
    const active = await introspect(session.body.access_token).expect(200);
    expect(active.headers['cache-control']).toBe('no-store');
    expect(active.body).toMatchObject({
      active: true,
      sub: user.id,
      iss: 'keyward',
      aud: 'keyward-api',
      username: user.username,
      scope: 'chat usage keys',
    });
    expect(active.body.exp).toBeGreaterThan(Date.now() / 1000);

    const machine = (await clientToken(service, { resource: BILLING }).expect(200)).body
      .access_token as string;
    const machineInfo = await introspect(machine).expect(200);
    expect(machineInfo.body).toMatchObject({
      active: true,
      sub: service.id,
      client_id: service.id,
      aud: BILLING,
      scope: 'chat',
    });

    // Logged out: inactive at once, although the token's exp is minutes away.
    await request(h.t.server)
      .post('/api/v1/auth/logout')
      .set(bearer(session.body.access_token))
      .expect(204);
    expect((await introspect(session.body.access_token).expect(200)).body).toEqual({
      active: false,
    });

    // Signed with Keyward's own key for a live session, but expired beyond the 30 s skew; and
    // a token of Keyward's key for another audience than Keyward's or a JWT_RESOURCES one.
    const live = decodeJwt(machine);
    const ownKey = { kind: 'es256' as const, key: h.t.config.auth.keys.signing.key };
    const ownHeader = { alg: 'ES256', typ: 'at+jwt', kid: h.t.config.auth.keys.signing.kid };
    const now = Math.floor(Date.now() / 1000);
    const expired = forgeJwt(ownHeader, { ...live, iat: now - 700, exp: now - 31 }, ownKey);
    const foreignAudience = forgeJwt(
      ownHeader,
      { ...live, aud: 'https://elsewhere.example' },
      ownKey,
    );
    const control = forgeJwt(ownHeader, { ...live, jti: 'control' }, ownKey);
    expect((await introspect(control).expect(200)).body.active).toBe(true);
    for (const token of [expired, foreignAudience]) {
      expect((await introspect(token).expect(200)).body).toEqual({ active: false });
    }

    const [head, , signature] = machine.split('.');
    const tampered = `${head}.${Buffer.from(JSON.stringify({ sub: 'x', iss: 'keyward' })).toString('base64url')}.${signature}`;
    for (const garbage of ['', 'garbage', 'a.b.c', tampered, user.apiKey, 'x'.repeat(8000)]) {
      const res = await introspect(garbage);
      expect({ garbage: garbage.slice(0, 20), status: res.status, body: res.body }).toEqual({
        garbage: garbage.slice(0, 20),
        status: 200,
        body: { active: false },
      });
    }
  });

  it('advertises absolute URLs under PUBLIC_URL (RFC 8414)', async () => {
    const res = await request(h.t.server)
      .get('/.well-known/oauth-authorization-server')
      .expect(200);
    expect(res.body).toMatchObject({
      jwks_uri: `${PUBLIC_URL}/.well-known/jwks.json`,
      token_endpoint: `${PUBLIC_URL}/api/v1/auth/token`,
      revocation_endpoint: `${PUBLIC_URL}/api/v1/auth/revoke`,
      introspection_endpoint: `${PUBLIC_URL}/api/v1/auth/introspect`,
    });
    expect(res.body.grant_types_supported).toContain('client_credentials');
  });

  it('documents the new routes in OpenAPI, with the introspection endpoint on client credentials', async () => {
    const doc = await request(h.t.server).get('/docs-json').expect(200);
    const paths = doc.body.paths as Record<string, Record<string, { security?: unknown }>>;
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/admin/clients',
        '/api/v1/admin/clients/{id}/rotate',
        '/api/v1/admin/clients/{id}',
        '/api/v1/auth/introspect',
        '/api/v1/auth/password',
      ]),
    );
    expect(paths['/api/v1/auth/introspect'].post.security).toEqual([{ client: [] }]);
    expect(doc.body.components.securitySchemes.oauth2.flows.password.tokenUrl).toBe(
      `${PUBLIC_URL}/api/v1/auth/token`,
    );
    expect(doc.body.components.securitySchemes.client).toMatchObject({
      type: 'http',
      scheme: 'basic',
    });
    expect(JSON.stringify(doc.body)).not.toMatch(/kwcs_[A-Za-z0-9_-]{43}/);
  });
});
