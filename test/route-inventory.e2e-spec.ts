import request from 'supertest';
import { listRoutes, type Route } from './support/routes';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * Deny by default: every route registered by any controller answers 401 without
 * credentials, except this explicit list. A new public route must be added here on purpose.
 */
const PUBLIC_ROUTES = [
  'GET /.well-known/jwks.json',
  'GET /.well-known/oauth-authorization-server',
  'GET /health/live',
  'GET /health/ready',
  'DELETE /api/v1/auth/session', // authenticated by the refresh cookie + CSRF
  'POST /api/v1/auth/introspect', // authenticated as a machine client (Basic or in the body)
  'POST /api/v1/auth/revoke',
  'POST /api/v1/auth/session',
  'POST /api/v1/auth/session/refresh', // authenticated by the refresh cookie + CSRF
  'POST /api/v1/auth/token',
  'GET /api/v1/auth/oidc/config',
  'GET /api/v1/auth/oidc/login', // 302 to the IdP; 404 while OIDC_ISSUER is unset
  'GET /api/v1/auth/oidc/callback', // the IdP's redirect; 404 while OIDC_ISSUER is unset
  'GET /api/v1/auth/oidc/end-session', // after logout: 302 to the IdP; 404 while unset
].sort();

/** Public GET routes that answer 404 in this suite: single sign-on is not configured here. */
const NOT_CONFIGURED = new Set([
  '/api/v1/auth/oidc/login',
  '/api/v1/auth/oidc/callback',
  '/api/v1/auth/oidc/end-session',
]);

describe('Route inventory (deny by default)', () => {
  let t: TestApp;
  let routes: Route[];

  beforeAll(async () => {
    t = await createTestApp();
    routes = listRoutes(t);
  });
  afterAll(() => t.close());

  it('finds the routes of every feature', () => {
    expect(routes.length).toBeGreaterThan(15);
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining([
        'GET /api/v1/auth/me',
        'POST /api/v1/keys',
        'PATCH /api/v1/admin/users/:id',
        'POST /v1/responses',
        'GET /v1/responses/:id',
        'DELETE /v1/responses/:id',
        'POST /v1/embeddings',
        'POST /api/v1/auth/password',
        'GET /api/v1/admin/clients',
        'POST /api/v1/admin/clients',
        'POST /api/v1/admin/clients/:id/rotate',
        'PATCH /api/v1/admin/clients/:id',
        'POST /api/v1/auth/oidc/logout',
        'POST /api/v1/admin/teams',
        'PUT /api/v1/teams/:id/members/:userId',
        'POST /api/v1/teams/:id/members',
        'GET /api/v1/teams/:id/keys',
        'POST /api/v1/keys/:id/rotate',
        'PATCH /api/v1/admin/keys/:id',
        'PATCH /api/v1/keys/:id',
        'PATCH /api/v1/teams/:id/keys/:keyId',
        'GET /api/v1/admin/requests',
        'GET /api/v1/admin/spend',
        'GET /api/v1/teams/:id/requests',
        'GET /api/v1/teams/:id/spend',
      ]),
    );
  });

  it('marks exactly the listed routes @Public()', () => {
    const marked = routes
      .filter((r) => r.isPublic)
      .map((r) => `${r.method} ${r.path}`)
      .sort();
    expect(marked).toEqual(PUBLIC_ROUTES);
  });

  it('has every guarded route state the scope it needs (@RequireScopes or @AnyScope)', () => {
    const unstated = routes
      .filter((r) => !r.isPublic && r.scopes === undefined)
      .map((r) => `${r.method} ${r.path}`);
    expect(unstated).toEqual([]);
    // The routes whose scope matters most, pinned.
    const scopesOf = (key: string) => routes.find((r) => `${r.method} ${r.path}` === key)?.scopes;
    expect(scopesOf('POST /api/v1/auth/logout-all')).toEqual(['keys']);
    expect(scopesOf('GET /metrics')).toEqual(['admin']);
    expect(scopesOf('POST /api/v1/keys')).toEqual(['keys']);
    expect(scopesOf('POST /api/v1/auth/password')).toEqual(['keys']);
    expect(scopesOf('POST /api/v1/admin/clients')).toEqual(['admin']);
    expect(scopesOf('GET /api/v1/admin/requests')).toEqual(['admin']);
    expect(scopesOf('GET /api/v1/admin/spend')).toEqual(['admin']);
    expect(scopesOf('GET /api/v1/teams/:id/spend')).toEqual(['usage']);
    expect(scopesOf('POST /api/v1/auth/oidc/logout')).toEqual(['keys']);
  });

  it('answers 401 with WWW-Authenticate on every other route without credentials', async () => {
    const uuid = '00000000-0000-4000-8000-000000000000';
    for (const route of routes.filter((r) => !r.isPublic)) {
      const path = route.path.replace(/:[A-Za-z]+/g, uuid);
      const res = await request(t.server)[route.method.toLowerCase() as 'get'](path);
      expect({ route: `${route.method} ${route.path}`, status: res.status }).toEqual({
        route: `${route.method} ${route.path}`,
        status: 401,
      });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="keyward"/);
    }
  });

  it('serves the public routes without credentials', async () => {
    for (const route of routes.filter((r) => r.isPublic && r.method === 'GET')) {
      const res = await request(t.server).get(route.path);
      const expected = NOT_CONFIGURED.has(route.path) ? 404 : 200;
      expect({ route: route.path, status: res.status }).toEqual({
        route: route.path,
        status: expected,
      });
    }
  });

  it('answers 401 on the cookie-authenticated session routes without a session cookie', async () => {
    await request(t.server).post('/api/v1/auth/session/refresh').expect(401);
    await request(t.server).delete('/api/v1/auth/session').expect(401);
  });
});
