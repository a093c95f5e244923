import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** `DATA_DIR/keyward.lock`: the process that owns the embedded database. */
export const LOCK_FILE = 'keyward.lock';

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
}

/** Another live process holds DATA_DIR; the message says which and what to do instead. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner,
  ) {
    super(
      `DATA_DIR ${dataDir} is in use by another Keyward process (pid ${owner.pid} on ${owner.host}, ` +
        `since ${owner.startedAt}). The embedded database has one owner: stop that process first, ` +
        `or use its HTTP API (an admin creates users with POST /api/v1/admin/users).`,
    );
    this.name = 'DataDirLockedError';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (typeof owner.pid !== 'number' || typeof owner.host !== 'string') return undefined;
    return { pid: owner.pid, host: owner.host, startedAt: String(owner.startedAt) };
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock or throws `DataDirLockedError`. PGlite has no cross-process lock of its own
 * (its postgres runs in single-user mode inside the process), and two processes writing one
 * data directory corrupt it. A lock left by a process that died (same host, pid gone) is
 * taken over; one from another host is respected, since its pid cannot be checked from here.
 * Hand-written: the lock libraries on npm (proper-lockfile) use mtime heartbeats, which a
 * stalled event loop would break, rather than the owner's pid.
 *
 * Returns the release function (idempotent; also run at process exit).
 */
export function acquireDataDirLock(dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      writeFileSync(path, `${JSON.stringify(me)}\n`, { flag: 'wx', mode: 0o600 });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        // Only our own lock: never remove one another process took over.
        if (readOwner(path)?.pid === me.pid) unlinkSync(path);
      };
      process.on('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = readOwner(path);
    if (owner && (owner.host !== me.host || owner.pid === me.pid || isAlive(owner.pid)))
      throw new DataDirLockedError(dataDir, owner);
    // Stale (dead owner) or unreadable (a crash mid-write): remove and try again.
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  throw new Error(`could not take the lock ${path}`);
}
