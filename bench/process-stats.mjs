// What the bench scripts (run.mjs, memory.mjs, flags-ab.mjs) share: how Keyward is started
// (the Node flags of `npm run start:prod`), what a process costs (/proc: RSS, CPU time), and
// the chat request they all send. One place, so the scripts measure the same thing.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The chat request every bench sends (non-streamed; add `stream: true` for SSE). */
export const CHAT_REQUEST = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello to the benchmark in a few words.' }],
};

/** The Node flags `npm run start:prod` passes (package.json decides them). */
export function prodNodeFlags() {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const match = /\bnode((?:\s+--[\w-]+(?:=\S+)?)*)\s+dist\/src\/main\.js/.exec(
    pkg.scripts['start:prod'],
  );
  return match?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
}

/** start:prod's flags plus KEYWARD_BENCH_NODE_ARGS (e.g. `-r ./preload.cjs`). */
export function keywardNodeFlags() {
  return [
    ...prodNodeFlags(),
    ...(process.env.KEYWARD_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
  ];
}

/** A line of a process's /proc status (Linux) in MiB: VmRSS now, VmHWM its peak. */
export function procMiB(pid, field) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time a process used so far (user + system, all its threads: the PGlite worker and
 * Argon2's included), in milliseconds; NaN when it cannot be read. Per request, it is the
 * cost of serving one, which machine load moves far less than requests per second.
 */
export function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** GET/POST `url`, read the body, and say whether the status was 2xx. */
export async function ok(url, init) {
  const response = await fetch(url, init);
  await response.arrayBuffer();
  return response.ok;
}

/**
 * The same CPU time split by thread (Linux thread names): `main` (JavaScript, MainThread),
 * `db` (the PGlite worker, WorkerThread), `v8` (V8's helper threads: concurrent GC and
 * compilation) and `other` (libuv's pool: Argon2, file I/O). Says where a change moved the cost.
 */
export function cpuMsByThread(pid) {
  const split = { main: 0, db: 0, v8: 0, other: 0 };
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
        const group =
          name === 'MainThread'
            ? 'main'
            : name === 'WorkerThread'
              ? 'db'
              : name.startsWith('V8')
                ? 'v8'
                : 'other';
        split[group] += ms;
      } catch {
        // The thread ended between the listing and the read.
      }
    }
  } catch {
    return undefined;
  }
  return split;
}

/** SIGTERM, then SIGKILL after 15 s; resolves once the process has exited. */
export function stopProcess(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  });
}
