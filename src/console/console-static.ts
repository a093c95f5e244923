import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';
import { CONSOLE_CSP } from '../http/security-headers';

/**
 * `public/` at the project root, from `src/console` (tests) or `dist/src/console` (build):
 * tsc copies no static files, so they stay outside `src/`.
 */
export function consoleRoot(): string {
  for (const up of ['../..', '../../..']) {
    const candidate = join(__dirname, up, 'public');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  throw new Error('public/ console folder not found');
}

/**
 * The browser console (docs/console.md) at `/`: plain Fastify routes, one per file found at
 * start-up (`wildcard: false`), so unknown paths still reach the API's 404 and no Nest
 * controller (nor guard) is involved: the files are public, the API they call is not.
 */
export async function registerConsole(app: NestFastifyApplication): Promise<void> {
  await app.register(fastifyStatic, {
    root: consoleRoot(),
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    decorateReply: false,
    setHeaders: (reply: FastifyReply) => {
      reply.header('Content-Security-Policy', CONSOLE_CSP);
    },
  });
}
