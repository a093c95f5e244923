import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { join } from 'node:path';
import { templateDir, templateReady } from './pglite-template';

/** Builds the migrated PGlite template once (see pglite-template.ts). */
export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) return;
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
