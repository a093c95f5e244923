import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { REQUIRE_ALL_SUITES } from './require-all-suites';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Whether browser tests can run here. Without Chromium they skip with a printed reason,
 * unless REQUIRE_ALL_SUITES: then a missing browser fails instead of skipping.
 */
function browserAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  if (REQUIRE_ALL_SUITES) return true; // let launch() fail loudly
  process.stdout.write(
    `browser tests skipped: ${CHROMIUM_PATH} not found (apt-get install chromium)\n`,
  );
  return false;
}

/** `describe` for a suite that needs Chromium: `describe.skip` where browserAvailable() says so. */
export const describeBrowser = browserAvailable() ? describe : describe.skip;

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}

/**
 * CSP refusals and uncaught errors of `page`, collected from now on: the console suites fail
 * on any. Chromium reports every CSP refusal on the console ("Refused to ... because it
 * violates the following Content Security Policy directive").
 */
export function collectPageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  return problems;
}
