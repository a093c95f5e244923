import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A PGlite data directory with every migration applied, made once and copied per suite:
 * initdb costs seconds and hundreds of MB, a copy costs milliseconds. Keyed by the content
 * of the migrations, so a new migration makes a new template.
 */
export function templateDir(): string {
  const folder = join(__dirname, '..', '..', 'drizzle');
  const hash = createHash('sha256');
  for (const name of readdirSync(folder).sort()) {
    if (name.endsWith('.sql')) hash.update(name).update(readFileSync(join(folder, name)));
  }
  hash.update(readFileSync(join(folder, 'meta', '_journal.json')));
  return join(tmpdir(), `keyward-pglite-template-${hash.digest('hex').slice(0, 16)}`);
}

export function templateReady(dir: string): boolean {
  return existsSync(join(dir, 'READY'));
}
