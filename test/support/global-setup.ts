import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { join } from 'node:path';
import { templateDir, templateReady } from './pglite-template';

/**
 * Once per run: compiles `dist/` (incremental; suites that start Keyward as a real process,
 * for signals and multi-instance tests, run the build) and makes the migrated PGlite template.
 */
export default async function globalSetup(): Promise<void> {
  const root = join(__dirname, '..', '..');
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  // Made under `npm run test:services` too: the embedded database's own suite runs there.
  const dir = templateDir();
  if (templateReady(dir)) return;
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  const client = await PGlite.create(join(building, 'pgdata'));
  await migrate(drizzle(client), { migrationsFolder: join(__dirname, '..', '..', 'drizzle') });
  await client.close();
  writeFileSync(join(building, 'READY'), new Date().toISOString());
  rmSync(dir, { recursive: true, force: true });
  renameSync(building, dir);
}
