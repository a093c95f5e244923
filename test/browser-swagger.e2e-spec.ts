import type { Browser } from 'playwright-core';
import { createUser, type TestUser } from './support/auth-helpers';
import { describeBrowser, launchChromium } from './support/browser';
import { createTestApp, type TestApp } from './support/test-app';

describeBrowser('In a real browser (Chromium)', () => {
  let t: TestApp;
  let browser: Browser;
  let user: TestUser;
  let url: string;

  beforeAll(async () => {
    // Plain http on loopback: the dev cookie mode (no Secure, no prefixes).
    t = await createTestApp({ COOKIE_SECURE: 'false' });
    url = await t.listen();
    user = await createUser(t);
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('authorizes Swagger UI through the OAuth2 password flow and calls /api/v1/auth/me', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(`${url}/docs`);
    await page.locator('button.authorize').first().click();
    await page.locator('#oauth_username').fill(user.username);
    await page.locator('#oauth_password').fill(user.password);
    await page.locator('.auth-btn-wrapper button.authorize').first().click();
    await page.locator('.auth-container', { hasText: 'Logout' }).first().waitFor();
    await page.locator('button.btn-done').first().click();

    const operation = page.locator('[id$="AuthController_me"]');
    await operation.locator('.opblock-summary').click();
    await operation.locator('button.try-out__btn').click();
    await operation.locator('button.execute').click();
    const status = operation.locator('.live-responses-table tbody .response-col_status').first();
    await status.waitFor();
    expect((await status.innerText()).trim()).toBe('200');
    expect(
      await operation
        .locator('.live-responses-table tbody .response-col_description')
        .first()
        .innerText(),
    ).toContain(user.username);
    expect(errors.filter((text) => /Content Security Policy/i.test(text))).toEqual([]);
    await page.close();
  }, 60_000);

  it('sends X-CSRF-Token from the CSRF cookie on an unsafe "Try it out" call on the session cookie', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/docs`);
    // A browser session, as the console or the SSO callback leaves it (no Swagger authorization).
    const login = await page.evaluate(
      async ({ username, password }) =>
        (
          await fetch('/api/v1/auth/session', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ username, password }),
          })
        ).status,
      { username: user.username, password: user.password },
    );
    expect(login).toBe(200);
    const operation = page.locator('[id$="ApiKeysController_create"]');
    await operation.locator('.opblock-summary').click();
    await operation.locator('button.try-out__btn').click();
    await operation.locator('textarea.body-param__text').fill('{"name":"from-swagger-ui"}');
    await operation.locator('button.execute').click();
    const status = operation.locator('.live-responses-table tbody .response-col_status').first();
    await status.waitFor();
    // Without the header this is 403 csrf_failed (cookie-authenticated POST).
    expect((await status.innerText()).trim()).toBe('201');
    expect(
      await operation
        .locator('.live-responses-table tbody .response-col_description')
        .first()
        .innerText(),
    ).toContain('from-swagger-ui');
    await context.close();
  }, 60_000);

  it('keeps the session cookies away from page script after a same-origin login', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/docs`);
    const result = await page.evaluate(
      async ({ username, password }) => {
        const login = await fetch('/api/v1/auth/session', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ username, password }),
        });
        const body = (await login.json()) as { csrfToken: string };
        const me = await fetch('/api/v1/auth/me');
        return {
          status: login.status,
          body,
          documentCookie: (globalThis as unknown as { document: { cookie: string } }).document
            .cookie,
          me: (await me.json()) as { username: string },
        };
      },
      { username: user.username, password: user.password },
    );
    expect(result.status).toBe(200);
    expect(result.me.username).toBe(user.username);
    const stored = (await context.cookies()).map((cookie) => cookie.name).sort();
    expect(stored).toEqual(['kw_access', 'kw_csrf', 'kw_refresh']);
    expect(result.documentCookie).toContain(`kw_csrf=${result.body.csrfToken}`);
    expect(result.documentCookie).not.toContain('kw_access');
    expect(result.documentCookie).not.toContain('kw_refresh');
    expect(JSON.stringify(result.body)).not.toMatch(/eyJ/);
    await context.close();
  }, 60_000);
});
