import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

/** Where the console loads its chart library (uPlot, MIT) from: served locally, no CDN. */
export const CHART_LIBRARY_PREFIX = '/vendor/uplot/';
/** The two files of uPlot's `dist/` the console needs; the rest of the folder is not served. */
const CHART_LIBRARY_FILES = new Set(['/uPlot.esm.js', '/uPlot.min.css']);

/** uPlot's `dist/` folder, found through Node's resolution (its `main` lives there). */
function chartLibraryRoot(): string {
  return dirname(require.resolve('uplot'));
}

/**
 * The browser console (docs/console.md) at `/`: plain Fastify routes, one per file found at
 * start-up (`wildcard: false`), so unknown paths still reach the API's 404 and no Nest
 * controller (nor guard) is involved: the files are public, the API they call is not.
 * The chart library is served the same way from `node_modules`, under the same CSP.
 */
export async function registerConsole(app: NestFastifyApplication): Promise<void> {
  const setHeaders = (reply: FastifyReply) => {
    reply.header('Content-Security-Policy', CONSOLE_CSP);
  };
  await app.register(fastifyStatic, {
    root: consoleRoot(),
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    decorateReply: false,
    setHeaders,
  });
  await app.register(fastifyStatic, {
    root: chartLibraryRoot(),
    prefix: CHART_LIBRARY_PREFIX,
    wildcard: false,
    index: false,
    decorateReply: false,
    allowedPath: (path) => CHART_LIBRARY_FILES.has(path),
    setHeaders,
  });
}
