import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describeBrowser, launchChromium } from './support/browser';
import { TestProvider } from './support/oidc/test-provider';
import { createTestApp, type TestApp, uniqueName } from './support/test-app';

/**
 * The whole redirect flow in Chromium against a real OpenID Provider: the console's "Sign in
 * with …" button, the IdP's login page, the callback, roles from groups, a lost group, and
 * logout that ends the IdP session too.
 */
describeBrowser('OIDC sign-in in a real browser (Chromium)', () => {
  let op: TestProvider;
  let t: TestApp;
  let url: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    op = await TestProvider.start();
    t = await createTestApp(op.env());
    url = await t.listen();
    await op.setup(url);
    browser = await launchChromium([op.chromiumTrustArg]);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    op?.stop();
  });

  const newPage = async (): Promise<Page> => {
    const context = await browser.newContext();
    contexts.push(context);
    return context.newPage();
  };

  /** From the console's sign-in view through the IdP's form back to the console. */
  const signInAt = async (page: Page, account: string) => {
    await page.locator('#sso-signin').click();
    await page.waitForURL(`${op.issuer}/interaction/**`);
    await page.locator('#login').fill(account);
    await page.locator('#op-submit').click();
    await page.waitForURL(`${url}/`);
  };

  const me = (page: Page) =>
    page.evaluate(async () => {
      const res = await fetch('/api/v1/auth/me');
      return {
        status: res.status,
        body: (await res.json()) as { username: string; roles: string[] },
      };
    });

  it('signs in with the IdP, creates the user with mapped roles, and loses a role with its sessions', async () => {
    const sub = uniqueName('sub');
    const username = uniqueName('ada');
    await op.setUsers({ [sub]: { preferred_username: username, groups: ['kw-admins'] } });
    const page = await newPage();
    await page.goto(url);
    await page.locator('#sso-signin', { hasText: 'Sign in with Test OP' }).waitFor();
    await signInAt(page, sub);
    await page.locator('#username', { hasText: username }).waitFor();
    expect(await me(page)).toEqual({
      status: 200,
      body: expect.objectContaining({ username, roles: ['admin'] }),
    });
    // Neither the URL nor the page holds a token.
    expect(page.url()).toBe(`${url}/`);
    expect(await page.content()).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);

    // Out of the admins group; signing in on another device re-evaluates the roles.
    await op.setUsers({ [sub]: { preferred_username: username, groups: ['kw-users'] } });
    const other = await newPage();
    await other.goto(url);
    await signInAt(other, sub);
    await other.locator('#username', { hasText: username }).waitFor();
    expect((await me(other)).body.roles).toEqual(['user']);
    // The first device's session has ended.
    expect((await me(page)).status).toBe(401);
    await page.reload();
    await page.locator('#signin-view').waitFor();
  });

  it('shows a clear message when the IdP refuses, with no session', async () => {
    const page = await newPage();
    await page.goto(url);
    await page.locator('#sso-signin').click();
    await page.waitForURL(`${op.issuer}/interaction/**`);
    await page.locator('#login').fill('nobody-at-all');
    await page.locator('#op-submit').click();
    await page.locator('#notice', { hasText: 'cancelled or refused' }).waitFor();
    expect(page.url()).toBe(`${url}/`);
    expect((await me(page)).status).toBe(401);
  });

  it('signs out of Keyward and of the IdP (RP-initiated logout)', async () => {
    const sub = uniqueName('sub');
    await op.setUsers({ [sub]: { preferred_username: uniqueName('lo'), groups: [] } });
    const page = await newPage();
    await page.goto(url);
    await signInAt(page, sub);
    await page.locator('#account').waitFor();
    await page.locator('#signout').click();
    await page.waitForURL(`${op.issuer}/session/end**`);
    await page.locator('button[name="logout"]').click();
    await page.waitForURL(`${url}/`);
    await page.locator('#signin-view').waitFor();
    expect((await me(page)).status).toBe(401);
    // The IdP session is gone too: signing in again asks for the account.
    await page.locator('#sso-signin').click();
    await page.waitForURL(`${op.issuer}/interaction/**`);
    await page.locator('#login').waitFor();
  });

  it('signs in for Swagger UI with returnTo=/docs: "Try it out" then runs on the session cookie', async () => {
    const sub = uniqueName('sub');
    const username = uniqueName('sw');
    await op.setUsers({ [sub]: { preferred_username: username, groups: [] } });
    const page = await newPage();
    await page.goto(`${url}/api/v1/auth/oidc/login?returnTo=/docs`);
    await page.locator('#login').fill(sub);
    await page.locator('#op-submit').click();
    await page.waitForURL(`${url}/docs`);
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
    ).toContain(username);
  });
});
