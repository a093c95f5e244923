import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { acquireDataDirLock } from './data-dir-lock';
import { migrationsFolder } from './migrations-folder';
import { PgliteWorkerClient } from './pglite-worker.client';

/** The embedded database of a `DATA_DIR`, opened (or opening) in its worker. */
export interface EmbeddedOpening {
  /** Resolves once PGlite has opened the directory (a new one created first); rejects if not. */
  readonly client: Promise<PgliteWorkerClient>;
  /** Gives `DATA_DIR` back; the caller calls it once it has closed the client. */
  readonly releaseLock: () => void;
}

/**
 * Takes `DATA_DIR`'s lock (throws if another process holds it) and starts opening
 * `DATA_DIR/pgdata` in the worker. The one way the embedded database is opened: by
 * DatabaseService, or earlier by `startEmbeddedDatabaseEarly`.
 */
function openEmbedded(dataDir: string): EmbeddedOpening {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const releaseLock = acquireDataDirLock(dataDir);
  const dir = join(dataDir, 'pgdata');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    releaseLock();
    throw error;
  }
  return { client: PgliteWorkerClient.open(dir, migrationsFolder()), releaseLock };
}

let early: { readonly dataDir: string; readonly opening: EmbeddedOpening | Error } | undefined;

/**
 * main.ts calls this as soon as the configuration is known, before it loads the application's
 * modules: the worker compiles PGlite's WebAssembly and opens the directory on its own thread
 * while the main thread spends its ~0.9 s loading modules, instead of after them (a restart
 * ~0.6 s sooner ready; docs/database.md "Memory and start time"). A failure (the directory
 * held by another process, a damaged database) is kept and reported by DatabaseService at the
 * same point of the start as without the early start.
 */
export function startEmbeddedDatabaseEarly(dataDir: string): void {
  try {
    const opening = openEmbedded(dataDir);
    // Awaited later by DatabaseService; until then a rejection is not "unhandled".
    opening.client.catch(() => undefined);
    early = { dataDir, opening };
  } catch (error) {
    early = { dataDir, opening: error as Error };
  }
}

/** The early opening of `dataDir`, once (then forgotten); else a new opening. */
export function takeEmbeddedOpening(dataDir: string): EmbeddedOpening {
  const started = early?.dataDir === dataDir ? early.opening : undefined;
  early = undefined;
  if (started instanceof Error) throw started;
  return started ?? openEmbedded(dataDir);
}
