import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireDataDirLock, DataDirLockedError, LOCK_FILE } from './data-dir-lock';

describe(acquireDataDirLock.name, () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'keyward-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The pid of a process that has already exited. */
  function deadPid(): number {
    const result = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    return Number(result.stdout.toString());
  }

  it('writes the owner pid and removes the file on release', () => {
    const release = acquireDataDirLock(dir);
    const owner = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number };
    expect(owner.pid).toBe(process.pid);
    release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    release(); // idempotent
  });

  it('refuses a second owner while the first holds it, naming the holder', () => {
    const release = acquireDataDirLock(dir);
    try {
      expect(() => acquireDataDirLock(dir)).toThrow(DataDirLockedError);
      expect(() => acquireDataDirLock(dir)).toThrow(`pid ${process.pid}`);
    } finally {
      release();
    }
    // Free again once released.
    acquireDataDirLock(dir)();
  });

  it('takes over a lock left by a process that died', () => {
    const pid = deadPid();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), startedAt: 'x' }));
    const release = acquireDataDirLock(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({
      pid: process.pid,
    });
    release();
  });

  it('takes over an unreadable lock (a crash mid-write)', () => {
    writeFileSync(join(dir, LOCK_FILE), '{"pid":');
    acquireDataDirLock(dir)();
  });

  it("respects another host's lock: its pid cannot be checked from here", () => {
    writeFileSync(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: deadPid(), host: `${hostname()}-other`, startedAt: 'x' }),
    );
    expect(() => acquireDataDirLock(dir)).toThrow(DataDirLockedError);
  });

  it('does not remove a lock another process took over after ours', () => {
    const release = acquireDataDirLock(dir);
    const other = JSON.stringify({ pid: deadPid(), host: hostname(), startedAt: 'x' });
    writeFileSync(join(dir, LOCK_FILE), other);
    release();
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(other);
  });
});
