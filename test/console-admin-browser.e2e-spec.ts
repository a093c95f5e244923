import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import request from 'supertest';
import { CONSOLE_CSP } from '../src/http/security-headers';
import {
  DEFAULT_API_KEY,
  type MockOpenAI,
  startMockOpenAI,
} from '../tools/mock-openai/mock-openai';
import type { Role } from '../src/database/schema';
import { UsersService } from '../src/users/users.service';
import { createUser, login, PASSWORD, type TestUser } from './support/auth-helpers';
import { collectPageProblems, describeBrowser, launchChromium } from './support/browser';
import { createTestApp, type TestApp } from './support/test-app';

const ROOT = join(__dirname, '..');
const DESKTOP = { width: 1280, height: 900 };
/** Rendered as text it is harmless; parsed as HTML it would run `onerror`. */
const XSS = '<img src=x onerror="document.body.dataset.xss=1">';

interface Opened {
  context: BrowserContext;
  page: Page;
  /** CSP refusals and uncaught page errors: none may happen. */
  problems: string[];
}

interface Team {
  id: string;
  name: string;
  rpm: number | null;
  models: string[] | null;
  logContent: boolean;
}
interface Member {
  userId: string;
  username: string;
  role: string;
}
interface Key {
  id: string;
  name: string;
  teamId: string | null;
  models: string[] | null;
  rpm: number | null;
  dailyTokens: number | null;
  dailyUsd: number | null;
  allowedCidrs: string[] | null;
  expiresAt: string | null;
  disabled?: boolean;
}

/**
 * The admin pages of the console (docs/console.md) against the real API: teams, members,
 * keys with policy, the spend chart and the request log, for an admin and for a team admin.
 */
describeBrowser('Console admin pages (Chromium)', () => {
  let t: TestApp;
  let mock: MockOpenAI;
  let browser: Browser;
  let url: string;
  let admin: TestUser;
  let lead: TestUser; // team admin of the XSS-named team, made so in the browser
  let member: TestUser;
  let adminToken: string;
  let otherTeam: Team; // a team the lead has nothing to do with
  let team: Team | undefined; // created in the browser
  let teamKey = ''; // a team key created in the browser, used for chat calls
  const opened: Opened[] = [];

  /** Readable names for the screenshots; unique ones on a shared PostgreSQL. */
  async function named(roles: Role[], name: string): Promise<TestUser> {
    if (process.env.DATABASE_URL) return createUser(t, roles, name);
    const user = await t.app
      .get(UsersService)
      .create({ username: name, password: PASSWORD, roles });
    return { id: user.id, username: name, password: PASSWORD };
  }

  const asAdmin = (req: request.Test) => req.set('Authorization', `Bearer ${adminToken}`);

  beforeAll(async () => {
    mock = await startMockOpenAI();
    t = await createTestApp({
      COOKIE_SECURE: 'false',
      OPENAI_API_KEY: DEFAULT_API_KEY,
      OPENAI_BASE_URL: mock.url,
      CHAT_MODELS: 'gpt-4o-mini,gpt-4o',
    });
    url = await t.listen();
    admin = await named(['user', 'admin'], 'alice');
    lead = await named(['user'], 'bob');
    member = await named(['user'], 'carol');
    adminToken = (await login(t, admin)).access_token;
    browser = await launchChromium();
    mkdirSync(join(ROOT, 'test-results'), { recursive: true }); // screenshots (gitignored)
  }, 60_000);

  afterEach(async () => {
    const problems = opened.flatMap((o) => o.problems);
    await Promise.all(opened.splice(0).map((o) => o.context.close()));
    expect(problems).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await mock?.close();
  });

  async function openConsole(who: TestUser, page = ''): Promise<Opened> {
    const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
    context.setDefaultTimeout(10_000); // a missing element fails naming its locator
    const tab = await context.newPage();
    const problems = collectPageProblems(tab);
    tab.on('dialog', (dialog) => void dialog.accept()); // confirm() before revoking, deleting
    await tab.goto(`${url}/${page}`);
    await tab.getByLabel('Username').fill(who.username);
    await tab.getByLabel('Password').fill(who.password);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.locator('#username', { hasText: who.username }).waitFor();
    const result = { context, page: tab, problems };
    opened.push(result);
    return result;
  }

  const nav = (page: Page) => page.getByRole('navigation', { name: 'Console pages' });
  const notice = (page: Page, text: RegExp) => page.locator('#notice', { hasText: text });

  async function goTo(page: Page, name: string): Promise<void> {
    await nav(page).getByRole('link', { name }).click();
    await page.getByRole('heading', { level: 2, name }).waitFor();
  }

  /** The visible nav links, in order. */
  async function navLinks(page: Page): Promise<string[]> {
    // The team list arrives after the chat is shown: wait for the Keys link at least.
    await nav(page).getByRole('link', { name: 'Keys' }).waitFor();
    return nav(page).getByRole('link').allInnerTexts();
  }

  /** A table row (in `table`) that contains `text`. */
  const rowWith = (table: Locator, text: string | RegExp) =>
    table.locator('tbody tr', { hasText: text });

  /** No element was parsed out of the XSS string, and its handler never ran. */
  async function expectNoInjection(page: Page): Promise<void> {
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate<string | null>('document.body.dataset.xss ?? null')).toBeNull();
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    await page.screenshot({
      path: join(ROOT, 'test-results', `console-${name}.png`),
      fullPage: true,
    });
    if (process.env.UPDATE_SCREENSHOTS === '1') {
      await page.screenshot({ path: join(ROOT, 'docs', `console-${name}.png`), fullPage: true });
    }
  }

  /** The request log is written in batches: press `button` until `shown` is there. */
  async function showUntil(page: Page, button: string, shown: Locator): Promise<void> {
    for (let i = 0; i < 40 && (await shown.count()) === 0; i += 1) {
      await page.getByRole('button', { name: button }).click();
      await page.waitForTimeout(250);
    }
    await shown.first().waitFor({ timeout: 1000 });
  }

  /** The request log is written in batches: poll the page's Filter until rows show up. */
  async function waitForRequestRows(page: Page, atLeast: number): Promise<void> {
    const rows = page.locator('#requests-rows tr[data-status]');
    for (let i = 0; i < 60 && (await rows.count()) < atLeast; i += 1) {
      await page.waitForTimeout(250);
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForLoadState('networkidle');
    }
    expect(await rows.count()).toBeGreaterThanOrEqual(atLeast);
  }

  it('serves uPlot from node_modules under the console CSP, and no other file of its folder', async () => {
    for (const [path, type] of [
      ['/vendor/uplot/uPlot.esm.js', /javascript/],
      ['/vendor/uplot/uPlot.min.css', /^text\/css/],
    ] as const) {
      const res = await request(t.server).get(path).expect(200);
      expect(res.headers['content-type']).toMatch(type);
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
    }
    for (const path of [
      '/vendor/uplot/uPlot.d.ts',
      '/vendor/uplot/uPlot.cjs.js',
      '/vendor/uplot/',
      '/vendor/uplot/../package.json',
      '/vendor/uplot/%2e%2e/package.json',
    ]) {
      const res = await request(t.server).get(path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
    const index = await request(t.server).get('/').expect(200);
    expect(index.text).toContain('href="/vendor/uplot/uPlot.min.css"');
    expect(index.text).not.toMatch(/https?:\/\//); // nothing from a CDN
  });

  it('admin: the Users page lists users, creates one, grants admin and disables', async () => {
    const { page } = await openConsole(admin, '#users');
    expect(await navLinks(page)).toEqual(['Chat', 'Users', 'Teams', 'Keys', 'Spend', 'Requests']);
    await page.getByRole('heading', { level: 2, name: 'Users' }).waitFor();
    const table = page.locator('#page-users table');
    await rowWith(table, member.username).waitFor();

    const name = `newbie${Date.now().toString(36)}`;
    await page.getByLabel("New user's name").fill(name);
    await page.getByLabel('Initial passphrase').fill('a-long-Unusual-pass-43');
    await page.getByRole('button', { name: 'Create user' }).click();
    await notice(page, new RegExp(`User “${name}” created`)).waitFor();
    await rowWith(table, name).waitFor();

    await page.getByRole('button', { name: `Make admin ${name}` }).click();
    await rowWith(table, name)
      .filter({ hasText: /user, admin|admin, user/ })
      .waitFor();
    await page.getByRole('button', { name: `Disable user ${name}` }).click();
    await rowWith(table, name).filter({ hasText: 'disabled' }).waitFor();

    const users = (await asAdmin(request(t.server).get('/api/v1/admin/users')).expect(200))
      .body as { username: string; roles: string[]; disabled: boolean }[];
    const created = users.find((user) => user.username === name);
    expect(created).toMatchObject({ disabled: true });
    expect(created?.roles.sort()).toEqual(['admin', 'user']);
    await screenshot(page, 'users');
  });

  it('admin: creates a team (its name rendered as text), adds members, edits its limits', async () => {
    const created = await asAdmin(request(t.server).post('/api/v1/admin/teams'))
      .send({ name: 'research' })
      .expect(201);
    otherTeam = created.body as Team;
    const { page } = await openConsole(admin, '#teams');
    await page.getByRole('heading', { level: 2, name: 'Teams' }).waitFor();
    const form = page.locator('#team-form');
    await form.getByLabel('Team name').fill(XSS);
    await form.getByLabel('Requests per minute').fill('600');
    await form.getByLabel('Tokens per day').fill('1000000');
    await form.getByLabel('USD per month').fill('250');
    await form.getByLabel('Models allowed').fill('gpt-4o-mini, gpt-4o');
    await page.getByRole('button', { name: 'Create team' }).click();
    await notice(page, /Team “<img src=x onerror=.*” created/).waitFor();

    const table = page.locator('#page-teams table').first();
    const row = rowWith(table, XSS);
    await row.waitFor();
    expect(await row.locator('td').first().innerText()).toBe(XSS);
    expect(await row.innerText()).toMatch(
      /600 requests\/min · 1,000,000 tokens\/day · \$250\.00\/month/,
    );
    await expectNoInjection(page);

    const teams = (await asAdmin(request(t.server).get('/api/v1/admin/teams')).expect(200))
      .body as Team[];
    team = teams.find((candidate) => candidate.name === XSS);
    expect(team).toMatchObject({ rpm: 600, models: ['gpt-4o-mini', 'gpt-4o'], logContent: false });

    // Created teams open for editing, with their members below.
    await page.getByRole('heading', { name: `Members of ${XSS}` }).waitFor();
    await page.getByLabel('User to add').fill(lead.username);
    await page.getByLabel('Team role', { exact: true }).selectOption('team_admin');
    await page.getByRole('button', { name: 'Add member' }).click();
    const members = page.locator('#members-rows');
    await members.locator('tr', { hasText: lead.username }).waitFor();
    await page.getByLabel('User to add').fill(member.username);
    await page.getByRole('button', { name: 'Add member' }).click();
    await members.locator('tr', { hasText: member.username }).waitFor();
    expect(await page.getByLabel(`Team role of ${lead.username}`).inputValue()).toBe('team_admin');
    expect(await page.getByLabel(`Team role of ${member.username}`).inputValue()).toBe('member');

    const listed = (
      await asAdmin(request(t.server).get(`/api/v1/teams/${team!.id}/members`)).expect(200)
    ).body as Member[];
    expect(listed.map((m) => [m.username, m.role]).sort()).toEqual(
      [
        [lead.username, 'team_admin'],
        [member.username, 'member'],
      ].sort(),
    );

    // Edit: limits and the content log.
    await form.getByLabel('Requests per minute').fill('1200');
    await form.getByLabel('Keep prompt and completion text').check();
    await page.getByRole('button', { name: 'Save team' }).click();
    await notice(page, /saved/).waitFor();
    await rowWith(table, XSS).filter({ hasText: '1,200 requests/min' }).waitFor();
    const saved = (
      await asAdmin(request(t.server).get(`/api/v1/admin/teams/${team!.id}`)).expect(200)
    ).body as Team;
    expect(saved).toMatchObject({ rpm: 1200, logContent: true });
    await expectNoInjection(page);
    await screenshot(page, 'teams');

    // Delete: a throwaway team goes, with its row.
    await asAdmin(request(t.server).post('/api/v1/admin/teams')).send({ name: 'temp' }).expect(201);
    await page.reload();
    await page.getByRole('button', { name: 'Manage team temp' }).click();
    await page.getByRole('heading', { name: 'Edit team temp' }).waitFor();
    await page.getByRole('button', { name: 'Delete team' }).click();
    await notice(page, /Team “temp” deleted/).waitFor();
    await rowWith(table, 'temp').waitFor({ state: 'detached' });
    const left = (await asAdmin(request(t.server).get('/api/v1/admin/teams')).expect(200))
      .body as Team[];
    // Other suites may share the database (test:services): only this suite's teams are judged.
    const names = left.map((one) => one.name);
    expect(names).toEqual(expect.arrayContaining([XSS, 'research']));
    expect(names).not.toContain('temp');
  });

  it('admin: creates a team key with a policy, sees it used, disables, rotates and revokes keys', async () => {
    expect(team).toBeDefined();
    const { context, page } = await openConsole(admin, '#keys');
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
    await page.getByRole('heading', { level: 2, name: 'Keys' }).waitFor();
    const form = page.locator('#policy-key-form');
    await form.getByLabel('Name of the new key').fill(`ci ${XSS}`);
    await form.getByLabel('Belongs to').selectOption({ label: `Team ${XSS}` });
    await form.getByLabel('Models allowed').fill('gpt-4o-mini gpt-4o');
    await form.getByLabel('Requests per minute').fill('100');
    await form.getByLabel('Tokens per day').fill('50000');
    await form.getByLabel('USD per day').fill('5');
    await form.getByLabel('Allowed client addresses').fill('127.0.0.1/32, ::1/128');
    await form.getByLabel('Expires on').fill('2099-12-31');
    await form.getByRole('button', { name: 'Create key' }).click();
    const secret = page.locator('#pk-secret-value');
    await secret.filter({ hasText: /^kw_/ }).waitFor();
    teamKey = await secret.innerText();
    await page.getByRole('button', { name: 'Copy the key' }).click();
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(teamKey);
    await page.getByRole('button', { name: 'Hide the key' }).click();
    expect(await page.content()).not.toContain(teamKey);

    const keys = (
      await asAdmin(request(t.server).get(`/api/v1/admin/keys?teamId=${team!.id}`)).expect(200)
    ).body as Key[];
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({
      name: `ci ${XSS}`,
      teamId: team!.id,
      models: ['gpt-4o-mini', 'gpt-4o'],
      rpm: 100,
      dailyTokens: 50000,
      dailyUsd: 5,
      allowedCidrs: ['127.0.0.1/32', '::1/128'],
    });
    expect(keys[0].expiresAt).toMatch(/^2099-12-31T23:59:59/);

    // The key works through the OpenAI SDK; the page then shows it used, with spend.
    const client = new OpenAI({ apiKey: teamKey, baseURL: `${url}/v1`, maxRetries: 0 });
    for (const model of ['gpt-4o-mini', 'gpt-4o', 'gpt-4o-mini']) {
      await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
    }
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'stream please' }],
      stream: true,
    });
    for await (const chunk of stream) void chunk;
    // Usage is counted in batches: reload until this month's spend shows the calls.
    const own = page.locator('#own-keys-rows');
    const row = own.locator('tr', { hasText: `ci ${XSS}` });
    const spent = /^[1-9][\d,]* tokens · \$0\.\d+/;
    for (let i = 0; i < 40; i += 1) {
      await page.reload();
      await row.waitFor();
      if (spent.test(await row.locator('td').nth(5).innerText())) break;
      await page.waitForTimeout(250);
    }
    expect(await row.locator('td').nth(3).innerText()).toMatch(/UTC$/); // last used
    expect(await row.locator('td').nth(5).innerText()).toMatch(spent);
    const teamKeys = page.locator('#team-keys-rows');
    await page
      .locator('#team-keys')
      .getByLabel('Team', { exact: true })
      .selectOption({ label: XSS });
    await teamKeys.locator('tr', { hasText: `ci ${XSS}` }).waitFor();
    await expectNoInjection(page);
    await screenshot(page, 'keys');

    // Admin: disable the team key, then enable it again.
    const all = page.locator('#admin-keys-rows');
    const adminRow = all.locator('tr', { hasText: `ci ${XSS}` });
    await adminRow.waitFor();
    await adminRow.getByRole('button', { name: /^Disable key/ }).click();
    await all
      .locator('tr', { hasText: `ci ${XSS}` })
      .filter({ hasText: 'disabled' })
      .waitFor();
    await request(t.server)
      .get('/v1/models')
      .set('Authorization', `Bearer ${teamKey}`)
      .expect((res) => expect([401, 403]).toContain(res.status));
    await all.getByRole('button', { name: /^Enable key/ }).click();
    await all
      .locator('tr', { hasText: `ci ${XSS}` })
      .filter({ hasText: 'active' })
      .waitFor();
    await request(t.server).get('/v1/models').set('Authorization', `Bearer ${teamKey}`).expect(200);

    // A personal key: rotate it (the old secret stops at once), then revoke it.
    await form.getByLabel('Name of the new key').fill('laptop');
    await form.getByRole('button', { name: 'Create key' }).click();
    await secret.filter({ hasText: /^kw_/ }).waitFor();
    const oldSecret = await secret.innerText();
    await page.getByRole('button', { name: 'Hide the key' }).click();
    // Edit its limits after creation: the form fills with the key, saves with PATCH.
    await page.getByRole('button', { name: 'Edit key laptop', exact: true }).click();
    expect(await form.getByLabel(/Name of the key/).inputValue()).toBe('laptop');
    await form.getByLabel('Requests per minute').fill('42');
    await form.getByLabel('Models allowed (comma-separated; empty: all)').fill('gpt-4o');
    await form.getByRole('button', { name: 'Save key' }).click();
    await notice(page, /Key “laptop” saved/).waitFor();
    await page
      .locator('#own-keys-rows tr', { hasText: 'laptop' })
      .filter({ hasText: '42 requests/min' })
      .waitFor();
    await form.getByRole('button', { name: 'Create key' }).waitFor();
    const edited = (await asAdmin(request(t.server).get('/api/v1/admin/keys')).expect(200))
      .body as {
      name: string;
      rpm: number | null;
      models: string[] | null;
    }[];
    expect(edited.find((k) => k.name === 'laptop')).toMatchObject({ rpm: 42, models: ['gpt-4o'] });
    await page.getByRole('button', { name: 'Rotate key laptop' }).click();
    await notice(page, /Key “laptop” rotated/).waitFor();
    const newSecret = await secret.innerText();
    expect(newSecret).toMatch(/^kw_/);
    expect(newSecret).not.toBe(oldSecret);
    await request(t.server)
      .get('/v1/models')
      .set('Authorization', `Bearer ${oldSecret}`)
      .expect(401);
    await request(t.server)
      .get('/v1/models')
      .set('Authorization', `Bearer ${newSecret}`)
      .expect(200);
    const revoke = page.getByRole('button', { name: 'Revoke key laptop', exact: true });
    await revoke.click();
    await notice(page, /Key “laptop” revoked/).waitFor();
    await revoke.waitFor({ state: 'detached' });
    await request(t.server)
      .get('/v1/models')
      .set('Authorization', `Bearer ${newSecret}`)
      .expect(401);
  }, 90_000); // several page loads and upstream calls: slow on a busy machine

  it('admin: the spend chart draws the calls per model and per team', async () => {
    expect(teamKey).not.toBe('');
    const { page } = await openConsole(admin, '#spend');
    await page.getByRole('heading', { level: 2, name: 'Spend' }).waitFor();
    // The team's own spend: other suites may share the database (test:services).
    await page.locator('#spend-scope').selectOption({ label: `Team ${XSS}` });
    await page.getByLabel('Group by').selectOption('model');
    await page.getByLabel('Range').selectOption('7');
    const rows = page.locator('#spend-rows');
    /** The table row of one series, by its exact label. */
    const series = (label: string) =>
      rows.locator('tr').filter({ has: page.locator('td:first-child', { hasText: label }) });
    await showUntil(page, 'Show spend', series('gpt-4o-mini'));
    await rows
      .locator('tr')
      .filter({ has: page.getByText('gpt-4o', { exact: true }) })
      .waitFor();
    const mini = await series('gpt-4o-mini').locator('td').allInnerTexts();
    expect(mini[1]).toBe('2'); // requests
    expect(mini[4]).toMatch(/^\$0\.0*[1-9]/); // cost > 0

    // uPlot drew a canvas with one series per model, in the page's legend.
    const chart = page.locator('#spend-chart');
    expect(await chart.locator('canvas').count()).toBe(1);
    const box = (await chart.locator('canvas').boundingBox())!;
    expect(box.width).toBeGreaterThan(200);
    expect(box.height).toBeGreaterThan(100);
    const legend = await chart.locator('.u-legend .u-series .u-label').allInnerTexts();
    expect(legend).toEqual(expect.arrayContaining(['gpt-4o-mini', 'gpt-4o']));
    // Something was drawn: the canvas is not blank.
    const inked = await page.evaluate<number>(`(() => {
      const canvas = document.querySelector('#spend-chart canvas');
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let inked = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked += 1;
      return inked;
    })()`);
    expect(inked).toBeGreaterThan(100);
    await screenshot(page, 'spend');

    // Per team: the team's name is a legend label, as text.
    await page.locator('#spend-scope').selectOption({ label: 'All of Keyward' });
    await page.getByLabel('Group by').selectOption('team');
    await page.getByLabel('Measure').selectOption('tokens');
    await page.getByRole('button', { name: 'Show spend' }).click();
    await rows.locator('tr', { hasText: XSS }).waitFor();
    expect(await chart.locator('.u-legend .u-label', { hasText: XSS }).count()).toBe(1);
    await expectNoInjection(page);
  });

  it('admin: the request log shows rows, filters, pages by cursor and exports CSV', async () => {
    expect(teamKey).not.toBe('');
    // Eight more calls with the team key: twelve rows in all, more than one page of ten.
    const client = new OpenAI({ apiKey: teamKey, baseURL: `${url}/v1`, maxRetries: 0 });
    for (let i = 0; i < 8; i += 1) {
      await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: `call ${i}` }],
      });
    }
    const { page } = await openConsole(admin, '#requests');
    await page.getByRole('heading', { level: 2, name: 'Requests' }).waitFor();
    await waitForRequestRows(page, 12);
    const rows = page.locator('#requests-rows tr[data-status]');
    expect(await rows.first().innerText()).toContain(XSS); // the team, as text
    await expectNoInjection(page);
    await screenshot(page, 'requests');

    await page.getByLabel('Model name').fill('gpt-4o-mini');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForLoadState('networkidle');
    await rows.first().waitFor();
    const models = await rows.locator('td:nth-child(6)').allInnerTexts();
    expect(models.length).toBeGreaterThanOrEqual(2);
    expect(new Set(models)).toEqual(new Set(['gpt-4o-mini']));
    await page.getByLabel('Status', { exact: true }).fill('599');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.locator('#requests-rows', { hasText: 'No requests match.' }).waitFor();
    await page.getByLabel('Status', { exact: true }).fill('');
    await page.getByLabel('Model name').fill('');

    // Ten rows a page: "Load more" follows the cursor to the next ones.
    await page.getByLabel('Rows per page').selectOption('10');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.locator('#requests-rows tr:nth-child(11)').waitFor({ state: 'detached' });
    await page.locator('#requests-rows tr[data-status]:nth-child(10)').waitFor();
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.locator('#requests-rows tr[data-status]:nth-child(11)').waitFor();
    const times = await rows
      .locator('time')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('datetime') ?? ''));
    expect(new Set(times.map((time, i) => `${time}#${i}`)).size).toBe(times.length);
    expect([...times].sort().reverse()).toEqual(times); // newest first, no page repeated

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export CSV' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^keyward-requests-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = readFileSync(await download.path(), 'utf8')
      .trim()
      .split(/\r?\n/);
    expect(csv[0]).toMatch(/model/);
    expect(csv.length - 1).toBeGreaterThanOrEqual(12);
  }, 90_000); // several page loads and upstream calls: slow on a busy machine

  it('team admin: sees only their own team; no Users page, no admin keys, no other team', async () => {
    expect(team).toBeDefined();
    const { page } = await openConsole(lead);
    expect(await navLinks(page)).toEqual(['Chat', 'Teams', 'Keys', 'Spend', 'Requests']);
    // #users in the address does not open the page.
    await page.goto(`${url}/#users`);
    await page.locator('#username', { hasText: lead.username }).waitFor();
    await page.locator('#app-view').waitFor();
    expect(await page.locator('#page-users').isHidden()).toBe(true);

    await goTo(page, 'Teams');
    const teams = page.locator('#teams-rows');
    await teams.locator('tr', { hasText: XSS }).waitFor();
    expect(await teams.locator('tr').count()).toBe(1);
    expect(await page.locator('#teams-rows', { hasText: otherTeam.name }).count()).toBe(0);
    expect(await page.locator('#team-editor').isHidden()).toBe(true); // limits: admins only
    await page.getByRole('button', { name: `Manage team ${XSS}` }).click();
    await page.locator('#members-rows tr', { hasText: member.username }).waitFor();
    await page.getByLabel(`Team role of ${member.username}`).selectOption('team_admin');
    await notice(page, new RegExp(`${member.username} is now team admin`)).waitFor();
    await page.getByLabel(`Team role of ${member.username}`).selectOption('member');
    await notice(page, new RegExp(`${member.username} is now member`)).waitFor();
    await expectNoInjection(page);

    await goTo(page, 'Keys');
    expect(await page.locator('#admin-keys').isHidden()).toBe(true);
    expect(await page.locator('#pk-owner option').allInnerTexts()).toEqual([
      'Me (personal key)',
      `Team ${XSS}`,
    ]);
    await page.locator('#team-keys-rows tr', { hasText: `ci ${XSS}` }).waitFor();

    await goTo(page, 'Spend');
    expect(await page.locator('#spend-scope option').allInnerTexts()).toEqual([`Team ${XSS}`]);
    expect(await page.locator('#spend-group option').allInnerTexts()).toEqual([
      'user',
      'model',
      'key',
    ]);
    await showUntil(
      page,
      'Show spend',
      page.locator('#spend-rows tr', { hasText: admin.username }),
    );

    await goTo(page, 'Requests');
    expect(await page.locator('#req-scope option').allInnerTexts()).toEqual([`Team ${XSS}`]);
    await waitForRequestRows(page, 4);

    // At phone width the pages wrap; only wide tables scroll, inside their card.
    await page.setViewportSize({ width: 360, height: 740 });
    for (const name of ['Teams', 'Keys', 'Spend', 'Requests']) {
      await goTo(page, name);
      const [scroll, client] = await page.evaluate<[number, number]>(
        '[document.documentElement.scrollWidth, document.documentElement.clientWidth]',
      );
      expect({ name, scroll }).toEqual({ name, scroll: client });
    }

    // Team admins remove members too.
    await goTo(page, 'Teams');
    await page.getByRole('button', { name: `Manage team ${XSS}` }).click();
    await page.getByRole('button', { name: `Remove ${member.username} from the team` }).click();
    await notice(page, new RegExp(`${member.username} removed`)).waitFor();
    await page.locator('#members-rows tr', { hasText: member.username }).waitFor({
      state: 'detached',
    });
    // ... and add them back by name: team admins cannot list users, so they type it.
    await page.getByLabel('User to add').fill(member.username.toUpperCase());
    await page.getByRole('button', { name: 'Add member' }).click();
    await notice(page, new RegExp(`${member.username} is now member`)).waitFor();
    await page.locator('#members-rows tr', { hasText: member.username }).waitFor();
    await page.getByLabel('User to add').fill('nobody-by-that-name');
    await page.getByRole('button', { name: 'Add member' }).click();
    await notice(page, /Could not add the member: No such user/).waitFor();

    // What the pages hide, the API refuses.
    const token = (await login(t, lead)).access_token;
    for (const path of ['/api/v1/admin/users', '/api/v1/admin/keys', '/api/v1/admin/requests']) {
      await request(t.server).get(path).set('Authorization', `Bearer ${token}`).expect(403);
    }
    await request(t.server)
      .get(`/api/v1/teams/${otherTeam.id}/members`)
      .set('Authorization', `Bearer ${token}`)
      .expect((res) => expect([403, 404]).toContain(res.status));
  }, 90_000); // several page loads and upstream calls: slow on a busy machine

  it('a member without a team role sees the chat and their own keys only', async () => {
    const plain = await createUser(t, ['user'], 'plain');
    const { page } = await openConsole(plain, '#spend');
    expect(await navLinks(page)).toEqual(['Chat', 'Keys']);
    await page.locator('#app-view').waitFor(); // #spend in the address fell back to the chat
    await goTo(page, 'Keys');
    expect(await page.locator('#pk-owner option').allInnerTexts()).toEqual(['Me (personal key)']);
    expect(await page.locator('#team-keys').isHidden()).toBe(true);
    expect(await page.locator('#admin-keys').isHidden()).toBe(true);
  });
});
