import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { stringifyCookie } from 'cookie';
import type { FastifyRequest } from 'fastify';
import { COOKIE_SECTION, fakeConfig } from '../../test/support/fakes/fake-config';
import { DomainError } from '../common/domain-error';
import { CookieService } from '../cookies/cookie.service';
import { CsrfService } from '../cookies/csrf.service';
import type { ApiKeysService } from './api-keys.service';
import { AllowMetricsToken, RequireScopes, Roles } from './auth.decorators';
import { AuthenticationGuard } from './authentication.guard';
import { CredentialReader } from './credential-reader';
import type { PassportAuthenticator } from './passport-authenticator';
import type { Principal } from './principal';
import { RequestAuthorizer } from './request-authorizer';
import { Public } from './public.decorator';
import type { RevocationService } from './revocation.service';
import { VerifiedTokenCache } from './verified-token-cache';

class Routes {
  @Public()
  open(): void {}

  any(): void {}

  @RequireScopes('chat')
  chat(): void {}

  @Roles('admin')
  admin(): void {}

  @AllowMetricsToken()
  metrics(): void {}
}

const HEADER_TOKEN = 'eyJ.header.token';
const COOKIE_TOKEN = 'eyJ.cookie.token';
const API_KEY = `kw_${'k'.repeat(43)}`;

const alice: Principal = {
  userId: 'u-alice',
  username: 'alice',
  roles: ['user'],
  scopes: ['chat', 'usage', 'keys'],
  authMethod: 'jwt',
  sessionId: 'sid-alice',
};

/** The guard on real collaborators, with fakes only for what would need a database. */
function setUp() {
  const config = fakeConfig({
    cookies: COOKIE_SECTION,
    app: { corsOrigins: [], metricsToken: 'metrics-secret' },
  });
  const cookies = new CookieService(config);
  const csrf = new CsrfService(cookies, config);
  const verified = new VerifiedTokenCache();
  const revoked = new Set<string>();
  const revocation = { isRevoked: (id: string) => revoked.has(id) } as RevocationService;
  const apiKeyPrincipal: Principal = { ...alice, authMethod: 'api_key', scopes: ['usage'] };
  const apiKeys = {
    authenticate: jest.fn((key: string) =>
      Promise.resolve(key === API_KEY ? apiKeyPrincipal : undefined),
    ),
  };
  const passport = {
    authenticate: jest.fn(() =>
      Promise.reject(new DomainError('invalid_token', 'refused by the strategies')),
    ),
  };
  const authorizer = new RequestAuthorizer(
    new CredentialReader(cookies),
    csrf,
    verified,
    revocation,
    apiKeys as unknown as ApiKeysService,
    passport as unknown as PassportAuthenticator,
    config,
  );
  const guard = new AuthenticationGuard(new Reflector(), authorizer);
  const run = (
    route: keyof Routes,
    init: {
      method?: string;
      url?: string;
      headers?: Record<string, string | undefined>;
      cookies?: Record<string, string>;
    },
  ) => {
    const cookie = stringifyCookie(init.cookies ?? {});
    const request = {
      method: init.method ?? 'GET',
      url: init.url ?? '/x',
      headers: cookie ? { ...init.headers, cookie } : (init.headers ?? {}),
      protocol: 'https',
      host: 'keyward.test',
    } as unknown as FastifyRequest & { user?: Principal };
    const context = {
      getHandler: () => Routes.prototype[route],
      getClass: () => Routes,
      switchToHttp: () => ({ getRequest: () => request, getResponse: () => ({}) }),
    } as unknown as ExecutionContext;
    return { request, result: guard.canActivate(context) };
  };
  const code = async (promise: Promise<boolean>) =>
    promise.then(
      () => 'allowed',
      (error: unknown) => (error instanceof DomainError ? error.code : String(error)),
    );
  return { run, code, verified, revoked, apiKeys, passport, csrf, cookies };
}

describe(AuthenticationGuard.name, () => {
  const exp = Math.floor(Date.now() / 1000) + 600;

  it('lets a public route through without any credential', async () => {
    const { run, passport } = setUp();
    await expect(run('open', {}).result).resolves.toBe(true);
    expect(passport.authenticate).not.toHaveBeenCalled();
  });

  it('sends a request with no cached credential to the strategies, whose refusal stands', async () => {
    const { run, code, passport } = setUp();
    expect(
      await code(run('any', { headers: { authorization: `Bearer ${HEADER_TOKEN}` } }).result),
    ).toBe('invalid_token');
    expect(passport.authenticate).toHaveBeenCalledTimes(1);
  });

  it('serves a verified token from the cache, as the transport it came by', async () => {
    const { run, verified, passport } = setUp();
    verified.remember(HEADER_TOKEN, exp, alice);
    const viaHeader = run('any', { headers: { authorization: `Bearer ${HEADER_TOKEN}` } });
    await expect(viaHeader.result).resolves.toBe(true);
    expect(viaHeader.request.user).toMatchObject({ userId: 'u-alice', authMethod: 'jwt' });
    const viaCookie = run('any', { cookies: { '__Host-kw_access': HEADER_TOKEN } });
    await expect(viaCookie.result).resolves.toBe(true);
    expect(viaCookie.request.user?.authMethod).toBe('cookie');
    expect(passport.authenticate).not.toHaveBeenCalled();
  });

  it('lets the Authorization header win over the cookie, and then needs no CSRF token', async () => {
    const { run, verified } = setUp();
    verified.remember(HEADER_TOKEN, exp, alice);
    verified.remember(COOKIE_TOKEN, exp, { ...alice, userId: 'u-cookie', sessionId: 'sid-cookie' });
    const both = run('any', {
      method: 'POST',
      headers: { authorization: `Bearer ${HEADER_TOKEN}` },
      cookies: { '__Host-kw_access': COOKIE_TOKEN },
    });
    await expect(both.result).resolves.toBe(true);
    expect(both.request.user).toMatchObject({ userId: 'u-alice', authMethod: 'jwt' });
  });

  it('sends a cached token of a revoked session the full way (and the strategies refuse it)', async () => {
    const { run, code, verified, revoked, passport } = setUp();
    verified.remember(HEADER_TOKEN, exp, alice);
    revoked.add('sid-alice');
    expect(
      await code(run('any', { headers: { authorization: `Bearer ${HEADER_TOKEN}` } }).result),
    ).toBe('invalid_token');
    expect(passport.authenticate).toHaveBeenCalledTimes(1);
  });

  it('authenticates an API key without the strategies; an unknown one goes the full way', async () => {
    const { run, code, apiKeys, passport } = setUp();
    const known = run('any', { headers: { authorization: `Bearer ${API_KEY}` } });
    await expect(known.result).resolves.toBe(true);
    expect(known.request.user?.authMethod).toBe('api_key');
    expect(passport.authenticate).not.toHaveBeenCalled();
    const unknown = `kw_${'u'.repeat(43)}`;
    expect(await code(run('any', { headers: { authorization: `Bearer ${unknown}` } }).result)).toBe(
      'invalid_token',
    );
    // With the client address: a key's allowedCidrs are checked there too.
    expect(apiKeys.authenticate).toHaveBeenLastCalledWith(unknown, known.request.ip);
    expect(passport.authenticate).toHaveBeenCalledTimes(1);
  });

  describe('CSRF on cookie sessions', () => {
    const cookieRequest = (
      csrf: CsrfService,
      method: string,
      withToken: boolean,
      sessionId = 'sid-alice',
    ) => {
      const token = csrf.tokenFor(sessionId);
      return {
        method,
        cookies: { '__Host-kw_access': COOKIE_TOKEN, '__Host-kw_csrf': token },
        headers: withToken ? { 'x-csrf-token': token } : {},
      };
    };

    it('refuses an unsafe cookie request without the CSRF token, allows safe ones', async () => {
      const { run, code, verified, csrf } = setUp();
      verified.remember(COOKIE_TOKEN, exp, alice);
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        expect(await code(run('any', cookieRequest(csrf, method, false)).result)).toBe(
          'csrf_failed',
        );
      }
      expect(await code(run('any', cookieRequest(csrf, 'GET', false)).result)).toBe('allowed');
    });

    it("accepts the session's own token and refuses another session's", async () => {
      const { run, code, verified, csrf } = setUp();
      verified.remember(COOKIE_TOKEN, exp, alice);
      expect(await code(run('any', cookieRequest(csrf, 'POST', true)).result)).toBe('allowed');
      expect(await code(run('any', cookieRequest(csrf, 'POST', true, 'sid-other')).result)).toBe(
        'csrf_failed',
      );
    });

    it('refuses a cross-site or foreign-origin unsafe request even with the token', async () => {
      const { run, code, verified, csrf } = setUp();
      verified.remember(COOKIE_TOKEN, exp, alice);
      for (const extra of [
        { 'sec-fetch-site': 'cross-site' },
        { origin: 'null' },
        { origin: 'https://evil.test' },
      ]) {
        const init = cookieRequest(csrf, 'POST', true);
        expect(
          await code(run('any', { ...init, headers: { ...init.headers, ...extra } }).result),
        ).toBe('csrf_failed');
      }
      const own = cookieRequest(csrf, 'POST', true);
      const sameOrigin = { ...own, headers: { ...own.headers, origin: 'https://keyward.test' } };
      expect(await code(run('any', sameOrigin).result)).toBe('allowed');
    });
  });

  it('checks roles and scopes after authentication, naming the missing scope', async () => {
    const { run, code, verified } = setUp();
    verified.remember(HEADER_TOKEN, exp, { ...alice, scopes: ['usage'] });
    const bearer = { headers: { authorization: `Bearer ${HEADER_TOKEN}` } };
    expect(await code(run('admin', bearer).result)).toBe('forbidden');
    const refused = await run('chat', bearer).result.catch((error: DomainError) => error);
    expect(refused).toBeInstanceOf(DomainError);
    expect((refused as DomainError).code).toBe('insufficient_scope');
    expect((refused as DomainError).options.headers?.['WWW-Authenticate']).toContain(
      'scope="chat"',
    );
    expect(await code(run('any', bearer).result)).toBe('allowed');
  });

  it('refuses a token in the URL before looking at any credential', async () => {
    const { run, code, verified } = setUp();
    verified.remember(HEADER_TOKEN, exp, alice);
    const request = {
      url: '/x?access_token=abc',
      headers: { authorization: `Bearer ${HEADER_TOKEN}` },
    };
    expect(await code(run('any', request).result)).toBe('invalid_token');
  });

  it('takes the metrics token only on routes that allow it', async () => {
    const { run, code } = setUp();
    const scrape = { headers: { authorization: 'Bearer metrics-secret' } };
    expect(await code(run('metrics', scrape).result)).toBe('allowed');
    expect(await code(run('any', scrape).result)).toBe('invalid_token');
    expect(
      await code(run('metrics', { headers: { authorization: 'Bearer metrics-secreT' } }).result),
    ).toBe('invalid_token');
  });
});
