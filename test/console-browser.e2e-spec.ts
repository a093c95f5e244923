import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { CONSOLE_CSP } from '../src/http/security-headers';
import {
  DEFAULT_API_KEY,
  type MockOpenAI,
  startMockOpenAI,
} from '../tools/mock-openai/mock-openai';
import { UsersService } from '../src/users/users.service';
import { createUser, login, PASSWORD, type TestUser } from './support/auth-helpers';
import { collectPageProblems, describeBrowser, launchChromium } from './support/browser';
import { createTestApp, type TestApp, uniqueName } from './support/test-app';

const ROOT = join(__dirname, '..');
const DESKTOP = { width: 1280, height: 800 };

/** The few page globals the tests touch (the test tsconfig has no DOM library). */
interface PageNode {
  textContent: string | null;
  getAttribute(name: string): string | null;
}
interface PageWindow {
  seen: string[];
  document: {
    querySelector(selector: string): PageNode | null;
    querySelectorAll(selector: string): ArrayLike<PageNode>;
  };
  MutationObserver: new (callback: () => void) => {
    observe(target: PageNode, options: object): void;
  };
}

interface Opened {
  context: BrowserContext;
  page: Page;
  /** CSP refusals and uncaught page errors: none may happen. */
  problems: string[];
}

describeBrowser('Browser console at / (Chromium)', () => {
  let t: TestApp;
  let mock: MockOpenAI;
  let browser: Browser;
  let url: string;
  let user: TestUser;
  const opened: Opened[] = [];

  beforeAll(async () => {
    mock = await startMockOpenAI();
    t = await createTestApp({
      COOKIE_SECURE: 'false',
      OPENAI_API_KEY: DEFAULT_API_KEY,
      OPENAI_BASE_URL: mock.url,
      CHAT_MODELS: 'gpt-4o-mini,gpt-4o',
    });
    url = await t.listen();
    // "alice" reads well in the README screenshot; a shared PostgreSQL needs a unique name.
    const username = process.env.DATABASE_URL ? uniqueName('alice') : 'alice';
    await t.app.get(UsersService).create({ username, password: PASSWORD, roles: ['user'] });
    user = { id: '', username, password: PASSWORD };
    browser = await launchChromium();
    mkdirSync(join(ROOT, 'test-results'), { recursive: true }); // screenshots (gitignored)
  }, 60_000);

  afterEach(async () => {
    mock.setFault(null);
    const problems = opened.flatMap((o) => o.problems);
    await Promise.all(opened.splice(0).map((o) => o.context.close()));
    expect(problems).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await mock?.close();
  });

  async function openConsole(viewport = DESKTOP): Promise<Opened> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const problems = collectPageProblems(page);
    await page.goto(url);
    const result = { context, page, problems };
    opened.push(result);
    return result;
  }

  async function signIn(page: Page, who: TestUser = user): Promise<void> {
    await page.getByLabel('Username').fill(who.username);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#username', { hasText: who.username }).waitFor();
  }

  const notice = (page: Page, text: RegExp) => page.locator('#notice', { hasText: text });

  async function send(page: Page, text: string): Promise<void> {
    await page.getByLabel('Message').fill(text);
    await page.getByLabel('Message').press('Enter');
  }

  const assistantReplies = (page: Page) => page.locator('.bubble.assistant');

  it('serves the console with a strict CSP and leaves the API, its CSP and its 404s alone', async () => {
    const index = await request(t.server).get('/').expect(200);
    expect(index.headers['content-type']).toMatch(/^text\/html/);
    expect(index.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    expect(index.text).toContain('<script type="module" src="/app.js"></script>');
    expect(index.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(index.text).not.toMatch(/\sstyle=|<style|\son[a-z]+=/i); // no inline style/handlers

    for (const [path, type] of [
      ['/app.js', /javascript/],
      ['/app.css', /^text\/css/],
    ] as const) {
      const res = await request(t.server).get(path).expect(200);
      expect(res.headers['content-type']).toMatch(type);
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
    }
    const missing = await request(t.server).get('/no-such-page.html').expect(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    const api = await request(t.server).get('/api/v1/auth/me').expect(401);
    expect(api.headers['content-security-policy']).toMatch(/^default-src 'none'/);
  });

  it('runs under that CSP: an injected inline script is refused, and the check sees it', async () => {
    const { page, problems } = await openConsole();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const refused = page.waitForEvent('console', (m) => /Content Security Policy/.test(m.text()));
    const ran = await page.evaluate(`(() => {
      const script = document.createElement('script');
      script.textContent = 'document.body.dataset.injected = "yes"';
      document.body.append(script);
      return document.body.dataset.injected ?? 'no';
    })()`);
    expect(ran).toBe('no');
    await refused;
    expect(problems).toHaveLength(1);
    problems.length = 0; // that refusal was the point; no other may happen
  });

  it('signs in and streams a chat answer from the upstream; Enter sends, Shift+Enter is a new line', async () => {
    const { context, page } = await openConsole();
    await signIn(page);
    expect(await page.locator('#prompt:focus').count()).toBe(1);
    // The models, usage and keys load beside the user's teams: wait for the list.
    await page.locator('#model option').nth(1).waitFor({ state: 'attached' });
    expect(await page.locator('#model option').allInnerTexts()).toEqual(['gpt-4o-mini', 'gpt-4o']);
    expect(await page.locator('#model').inputValue()).toBe('gpt-4o-mini'); // the default first

    // Record every state of the answer bubble, to see it grow chunk by chunk.
    await page.evaluate(() => {
      const w = globalThis as unknown as PageWindow;
      const seen: string[] = (w.seen = []);
      new w.MutationObserver(() => {
        const bubbles = w.document.querySelectorAll('.bubble.assistant');
        const last = bubbles[bubbles.length - 1];
        if (last && last.textContent !== seen[seen.length - 1]) seen.push(last.textContent ?? '');
        // Recorded as it happens: a fast stream may be over before the test could look.
        const busy = w.document.querySelector('#transcript')!.getAttribute('aria-busy');
        if (busy === 'true' && !seen.includes('<busy>')) seen.push('<busy>');
      }).observe(w.document.querySelector('#transcript')!, {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
        attributeFilter: ['aria-busy'],
      });
    });
    const prompt = page.getByLabel('Message');
    await prompt.fill('Hello from Chromium, please answer in a few words');
    await prompt.press('Enter');
    const answer = 'Mock reply to: Hello from Chromium, please answer in a few words';
    await assistantReplies(page).filter({ hasText: answer }).waitFor();
    await page.locator('#transcript[aria-busy="false"]').waitFor();
    const recorded = await page.evaluate(() => (globalThis as unknown as PageWindow).seen);
    expect(recorded).toContain('<busy>'); // aria-busy was true while streaming
    const seen = recorded.filter((text) => text !== '<busy>');
    expect(seen.at(-1)).toBe(answer);
    const partial = seen.filter((text) => text.length > 0 && text.length < answer.length);
    expect(partial.length).toBeGreaterThan(0); // streamed, not delivered at once
    for (const text of partial) expect(answer.startsWith(text)).toBe(true);

    await prompt.type('line one');
    await prompt.press('Shift+Enter');
    await prompt.type('line two');
    expect(await prompt.inputValue()).toBe('line one\nline two');
    expect(await page.locator('.bubble.user').count()).toBe(1); // not sent yet
    await prompt.press('Enter');
    await assistantReplies(page).nth(1).filter({ hasText: 'line two' }).waitFor();
    expect(await assistantReplies(page).nth(1).innerText()).toBe(
      'Mock reply to: line one\nline two',
    );
    // The second request carried the conversation so far.
    const upstream = mock.requests.filter((r) => r.path === '/v1/chat/completions').at(-1);
    expect((upstream?.body as { messages: unknown[] }).messages).toHaveLength(3);

    await page.locator('#usage-detail', { hasText: /^2 requests · up to 60 a minute$/ }).waitFor();
    const used = Number(await page.locator('#usage-meter').getAttribute('value'));
    expect(used).toBeGreaterThan(0);

    // The session cookies exist, but page script sees only the CSRF one.
    const cookies = (await context.cookies()).map((c) => c.name).sort();
    expect(cookies).toEqual(['kw_access', 'kw_csrf', 'kw_refresh']);
    const visible = await page.evaluate<string>('document.cookie');
    expect(visible).toMatch(/^kw_csrf=/);
    expect(visible).not.toMatch(/kw_access|kw_refresh/);

    // The page down to the end of its content, not the empty viewport below it.
    const box = (await page.locator('#app-view').boundingBox())!;
    const clip = { x: 0, y: 0, width: DESKTOP.width, height: Math.ceil(box.y + box.height + 24) };
    await page.screenshot({ path: join(ROOT, 'test-results', 'console.png'), clip });
    if (process.env.UPDATE_SCREENSHOTS === '1') {
      await page.screenshot({ path: join(ROOT, 'docs', 'console.png'), clip });
    }
  });

  it('creates an API key, shows it once with a copy button, and revokes it', async () => {
    const { context, page } = await openConsole();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
    await signIn(page);
    await page.getByLabel('Key name').fill('laptop script');
    await page.getByRole('button', { name: 'Create' }).click();
    const shown = page.locator('#new-key-value');
    await shown.waitFor();
    const key = await shown.innerText();
    expect(key).toMatch(/^kw_[A-Za-z0-9_-]{40,}$/);
    await page.getByRole('button', { name: 'Revoke key laptop script' }).waitFor();

    await page.getByRole('button', { name: 'Copy' }).click();
    await notice(page, /copied/i).waitFor();
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(key);

    // The key works as an OpenAI-style bearer token.
    await request(t.server).get('/v1/models').set('Authorization', `Bearer ${key}`).expect(200);

    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.content()).not.toContain(key);
    await page.reload();
    await page.getByRole('button', { name: 'Revoke key laptop script' }).waitFor();
    expect(await page.content()).not.toContain(key); // shown once, never again

    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Revoke key laptop script' }).click();
    await notice(page, /revoked/).waitFor();
    // The notice comes before the list is reloaded: wait for the row to go.
    await page
      .getByRole('button', { name: 'Revoke key laptop script' })
      .waitFor({ state: 'detached' });
    expect(await page.getByRole('button', { name: 'Revoke key laptop script' }).count()).toBe(0);
    await request(t.server).get('/v1/models').set('Authorization', `Bearer ${key}`).expect(401);
  });

  it('refreshes an expired access cookie once and retries the request', async () => {
    const { context, page } = await openConsole();
    await signIn(page);
    await context.clearCookies({ name: 'kw_access' }); // as when its Max-Age runs out
    const statuses: string[] = [];
    // Only the chat call and the refresh: the page's initial loads (usage, keys) may still
    // be finishing when recording starts.
    page.on('response', (r) => {
      const path = new URL(r.url()).pathname;
      if (path === '/v1/chat/completions' || path === '/api/v1/auth/session/refresh') {
        statuses.push(`${r.status()} ${path}`);
      }
    });
    await send(page, 'still there?');
    await assistantReplies(page).filter({ hasText: 'Mock reply to: still there?' }).waitFor();
    expect(statuses.slice(0, 3)).toEqual([
      '401 /v1/chat/completions',
      '200 /api/v1/auth/session/refresh',
      '200 /v1/chat/completions',
    ]);
    expect((await context.cookies()).map((c) => c.name)).toContain('kw_access');
    expect(await page.locator('#notice').isVisible()).toBe(false);
  });

  it('says in words when the upstream is down or rate limited, the budget is used up, or the network is gone', async () => {
    const { context, page } = await openConsole();
    await signIn(page);

    mock.setFault('server_error');
    await send(page, 'are you there?');
    await notice(page, /upstream model is down or not answering \(502\)/).waitFor();
    expect(await page.locator('#notice').getAttribute('data-kind')).toBe('error');
    expect(await page.getByLabel('Message').inputValue()).toBe('are you there?'); // kept to retry
    expect(await page.locator('.bubble').count()).toBe(0);
    expect(await page.locator('#transcript').getAttribute('aria-busy')).toBe('false');

    mock.setFault('reset_mid_stream'); // headers and a few chunks, then the upstream drops
    await page.getByLabel('Message').press('Enter');
    await notice(
      page,
      /upstream model is down or not answering \(502\): The upstream stream/,
    ).waitFor();
    expect(await page.locator('.bubble').count()).toBe(0);

    mock.setFault('rate_limit');
    await page.getByLabel('Message').press('Enter');
    await notice(page, /^Rate limited:/).waitFor();

    mock.setFault(null);
    await page.getByLabel('Message').press('Enter');
    await assistantReplies(page).filter({ hasText: 'Mock reply to: are you there?' }).waitFor();
    expect(await page.locator('#notice').isVisible()).toBe(false);

    await context.setOffline(true);
    await send(page, 'offline?');
    await notice(page, /Network error/).waitFor();
    await context.setOffline(false);

    // A user whose daily budget is 0 (an admin's per-user override).
    const broke = await createUser(t, ['user'], 'broke');
    const admin = await login(t, await createUser(t, ['admin'], 'admin'));
    await request(t.server)
      .patch(`/api/v1/admin/users/${broke.id}`)
      .set('Authorization', `Bearer ${admin.access_token}`)
      .send({ chatDailyTokens: 0 })
      .expect(200);
    const other = await openConsole();
    await signIn(other.page, broke);
    await send(other.page, 'one more?');
    await notice(other.page, /^Budget exhausted: .*resets at 00:00 UTC/).waitFor();
  });

  it('stops a streaming answer on request and keeps what arrived', async () => {
    const { page } = await openConsole();
    await signIn(page);
    mock.setFault('never_ending_stream');
    await send(page, 'go on forever');
    await page.locator('#transcript[aria-busy="true"]').waitFor();
    await assistantReplies(page).filter({ hasText: /\S/ }).waitFor(); // some text arrived
    await page.getByRole('button', { name: 'Stop' }).click();
    await notice(page, /^Stopped\.$/).waitFor();
    expect(await page.locator('#transcript').getAttribute('aria-busy')).toBe('false');
    expect(await page.getByRole('button', { name: 'Stop' }).isHidden()).toBe(true);
    expect(await assistantReplies(page).count()).toBe(1);
  });

  it('says "wrong password", then shows the lockout and its wait after 5 failed sign-ins', async () => {
    const victim = await createUser(t, ['user'], 'locked');
    const { page } = await openConsole();
    const submit = page.getByRole('button', { name: 'Sign in' });
    await page.getByLabel('Username').fill(victim.username);
    const attempt = async (password: string) => {
      await page.getByLabel('Password').fill(password);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/session')),
        submit.click(),
      ]);
      return response.status();
    };
    for (let i = 1; i <= 5; i += 1) {
      expect(await attempt(`wrong-password-${i}`)).toBe(401);
      await notice(page, /^Wrong username or password\.$/).waitFor();
      await page.locator('#signin-submit:enabled').waitFor();
    }
    expect(await attempt(victim.password)).toBe(429); // even the right password must wait
    const locked = notice(page, /locked out\. Try again in \d+ s\./);
    await locked.waitFor();
    expect(await page.locator('#notice').getAttribute('data-kind')).toBe('warn');
    expect(await submit.isDisabled()).toBe(true);
    const first = Number(/in (\d+) s/.exec(await locked.innerText())![1]);
    expect(first).toBeGreaterThan(0);
    // Counting down, then the button comes back.
    const timeout = (first + 5) * 1000;
    await notice(page, /You can try signing in again/).waitFor({ timeout });
    expect(await submit.isEnabled()).toBe(true);
  }, 60_000);

  it('works by keyboard alone at phone width (360 px) without horizontal scrolling', async () => {
    const { page } = await openConsole({ width: 360, height: 740 });
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.locator('#signin-username:focus').count()).toBe(1);
    await page.keyboard.type(user.username);
    await page.keyboard.press('Tab');
    expect(await page.locator('#signin-password:focus').count()).toBe(1);
    await page.keyboard.type(user.password);
    await page.keyboard.press('Enter');
    await page.locator('#username', { hasText: user.username }).waitFor();
    await page.keyboard.type('small screen'); // focus went to the message box
    await page.keyboard.press('Enter');
    await assistantReplies(page).filter({ hasText: 'Mock reply to: small screen' }).waitFor();
    await page.locator('#keys li').first().waitFor();
    const [viewport, scroll, client] = await page.evaluate<[number, number, number]>(
      '[innerWidth, document.documentElement.scrollWidth, document.documentElement.clientWidth]',
    );
    expect(viewport).toBe(360);
    expect(scroll).toBeLessThanOrEqual(client);
    await page.screenshot({
      path: join(ROOT, 'test-results', 'console-phone.png'),
      fullPage: true,
    });
  });

  it('signs out: back to the sign-in form, with the cookies gone', async () => {
    const { context, page } = await openConsole();
    await signIn(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await notice(page, /You are signed out/).waitFor();
    expect(await page.locator('#app-view').isHidden()).toBe(true);
    expect(await page.getByLabel('Password').inputValue()).toBe('');
    expect((await context.cookies()).filter((c) => c.name.includes('kw_'))).toEqual([]);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.locator('#app-view').isHidden()).toBe(true);
  });
});
