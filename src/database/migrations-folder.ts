import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** `drizzle/` at the project root, from `src/database` (tests) or `dist/src/database` (build). */
export function migrationsFolder(): string {
  for (const up of ['../..', '../../..']) {
    const candidate = join(__dirname, up, 'drizzle');
    if (existsSync(join(candidate, 'meta', '_journal.json'))) return candidate;
  }
  throw new Error('drizzle/ migrations folder not found');
}
