/**
 * Soak run (issue 8 §3): mixed traffic against one Keyward process for a bounded time, on
 * loopback only, sampling its memory and event-loop delay; the figures are appended to
 * BENCHMARKS.md under "## Soak". Not part of `npm test`.
 *
 *   npm run soak                      # 3 minutes
 *   SOAK_SECONDS=120 npm run soak     # shorter
 *   SOAK_WORKERS=6 SOAK_MAX_REQUESTS=200000 SOAK_SAMPLE_SECONDS=5 npm run soak
 *   SOAK_ACCESS_TOKEN_TTL=10m npm run soak   # the production default (needs a longer run)
 *   SOAK_NODE_ARGS=--heapsnapshot-signal=SIGUSR2 npm run soak   # then kill -USR2 <pid>
 *
 * Starts the mock upstream and Keyward (`dist/`, built by `npm run soak`) as child
 * processes on free loopback ports, with a fresh data directory that is removed at the end.
 * Memory is read from outside (`/proc/<pid>/status` VmRSS) and from Keyward's own
 * `/metrics` (heap used, event-loop lag p99), so the run exposes nothing new.
 * Exit code 1 when memory did not plateau (RSS peak, heap floor) or any request got a 5xx.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = positive('SOAK_SECONDS', 180);
const WORKERS = positive('SOAK_WORKERS', 4);
const MAX_REQUESTS = positive('SOAK_MAX_REQUESTS', 1_000_000);
const SAMPLE_SECONDS = positive('SOAK_SAMPLE_SECONDS', 5);
const PASSWORD = 'soak-Unusual-pass-4242';
const UPSTREAM_KEY = 'sk-mock-soak';
const METRICS_TOKEN = 'soak-metrics-token-0123456789abcdef';

function positive(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

function start(args, env) {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const errors = [];
  child.stderr.on('data', (chunk) => errors.push(String(chunk)));
  child.errors = errors;
  return child;
}

async function waitFor(url, child, what) {
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited: ${child.errors.join('')}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > 60_000) throw new Error(`${what} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const mib = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;

function rssBytes(pid) {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

function metric(text, name) {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return match ? Number(match[1]) : NaN;
}

async function main() {
  const mainJs = join(root, 'dist', 'src', 'main.js');
  const mockJs = join(root, 'dist', 'tools', 'mock-openai', 'main.js');
  if (!existsSync(mainJs) || !existsSync(mockJs)) throw new Error('dist/ missing: npm run build');

  const dataDir = mkdtempSync(join(tmpdir(), 'keyward-soak-'));
  const mockPort = await freePort();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const children = [];
  const cleanup = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const mock = start([mockJs, '--port', String(mockPort), '--api-key', UPSTREAM_KEY], {});
    children.push(mock);
    await waitFor(`http://127.0.0.1:${mockPort}/v1/models`, mock, 'mock upstream');
    // SOAK_NODE_ARGS: extra node flags for Keyward (e.g. `--heapsnapshot-signal=SIGUSR2`).
    const nodeArgs = process.env.SOAK_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const keyward = start([...nodeArgs, mainJs], {
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      OPENAI_API_KEY: UPSTREAM_KEY,
      OPENAI_BASE_URL: `http://127.0.0.1:${mockPort}/v1`,
      BOOTSTRAP_ADMIN_USERNAME: 'soak_admin',
      BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
      METRICS_TOKEN,
      // Token-keyed state (verified-token cache, revocations) lives as long as an access
      // token; a short TTL lets it turn over within the run, so a plateau can show.
      ACCESS_TOKEN_TTL: process.env.SOAK_ACCESS_TOKEN_TTL ?? '60s',
      CHAT_RPM: '1000000',
      CHAT_DAILY_TOKENS: '2000000000',
      // Every worker refreshes from 127.0.0.1: far past the per-address limit of a real client.
      AUTH_PUBLIC_RPM: '1000000',
    });
    children.push(keyward);
    await waitFor(`${base}/health/ready`, keyward, 'Keyward');
    const report = await soak(base, keyward.pid);
    const text = render(report);
    process.stdout.write(`${text}\n`);
    appendToBenchmarks(text);
    cleanup();
    await new Promise((resolve) => keyward.once('exit', resolve));
    process.exitCode = report.plateau.rss && report.plateau.heap && report.fiveXX === 0 ? 0 : 1;
  } finally {
    cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function call(base, method, path, { token, body } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, text };
}

async function soak(base, pid) {
  const counts = {};
  const byOp = {};
  let requests = 0;
  let stopping = false;
  const count = (op, status) => {
    requests += 1;
    counts[status] = (counts[status] ?? 0) + 1;
    byOp[op] = (byOp[op] ?? 0) + 1;
  };
  const login = async (username) => {
    const res = await call(base, 'POST', '/api/v1/auth/token', {
      body: { grant_type: 'password', username, password: PASSWORD },
    });
    count('login', res.status);
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
    return JSON.parse(res.text);
  };

  const admin = await login('soak_admin');
  const usernames = [];
  for (let i = 0; i < WORKERS; i += 1) {
    const username = `soak_user_${i}`;
    const res = await call(base, 'POST', '/api/v1/admin/users', {
      token: admin.access_token,
      body: { username, password: PASSWORD, roles: ['user'] },
    });
    if (res.status !== 201) throw new Error(`user create failed: ${res.status}`);
    usernames.push(username);
  }

  const samples = [];
  const sample = async () => {
    const res = await call(base, 'GET', '/metrics', { token: METRICS_TOKEN });
    samples.push({
      t: (Date.now() - started) / 1000,
      rss: rssBytes(pid),
      heap: metric(res.text, 'nodejs_heap_size_used_bytes'),
      lagP99: metric(res.text, 'nodejs_eventloop_lag_p99_seconds'),
      requests,
    });
  };

  const messages = [{ role: 'user', content: 'Write three words about a lighthouse.' }];
  const worker = async (username) => {
    let tokens = await login(username);
    while (!stopping && requests < MAX_REQUESTS) {
      const roll = Math.random();
      let op;
      let res;
      if (roll < 0.05) {
        tokens = await login(username); // counted by login()
        continue;
      } else if (roll < 0.25) {
        op = 'refresh';
        res = await call(base, 'POST', '/api/v1/auth/token', {
          body: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
        });
        if (res.status === 200) tokens = JSON.parse(res.text);
      } else if (roll < 0.55) {
        op = 'chat';
        res = await call(base, 'POST', '/v1/chat/completions', {
          token: tokens.access_token,
          body: { model: 'gpt-4o-mini', messages },
        });
      } else if (roll < 0.8) {
        op = 'stream';
        res = await call(base, 'POST', '/v1/chat/completions', {
          token: tokens.access_token,
          body: { model: 'gpt-4o-mini', messages, stream: true },
        });
      } else {
        op = 'keys';
        res = await call(base, 'GET', '/api/v1/keys', { token: tokens.access_token });
      }
      count(op, res.status);
      // An expired access token (ACCESS_TOKEN_TTL) is routine in a long run: sign in again.
      if (res.status === 401) tokens = await login(username);
    }
  };

  const started = Date.now();
  await sample();
  const sampler = setInterval(() => void sample().catch(() => undefined), SAMPLE_SECONDS * 1000);
  const deadline = setTimeout(() => (stopping = true), SECONDS * 1000);
  const results = await Promise.allSettled(usernames.map((u) => worker(u)));
  clearTimeout(deadline);
  clearInterval(sampler);
  await sample();
  const failures = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
  const elapsed = (Date.now() - started) / 1000;

  // Plateau, after warm-up (the first third): RSS, the last third's peak within 10% of the
  // middle third's. Heap used swings between major GCs (V8 lets old space fill with
  // garbage before compacting, so a sampled peak says when the last GC ran, not what is
  // kept); what a leak raises is the floor, the lowest sample, i.e. what survives GC.
  const third = (index) =>
    samples.filter((s) => s.t >= (elapsed * index) / 3 && s.t <= (elapsed * (index + 1)) / 3);
  const peak = (list, key) => Math.max(...list.map((s) => s[key]).filter(Number.isFinite));
  const floor = (list, key) => Math.min(...list.map((s) => s[key]).filter(Number.isFinite));
  const plateau = (key) =>
    key === 'heap'
      ? floor(third(2), key) <= floor(third(1), key) * 1.1
      : peak(third(2), key) <= peak(third(1), key) * 1.1;
  const fiveXX = Object.entries(counts)
    .filter(([status]) => Number(status) >= 500)
    .reduce((sum, [, n]) => sum + n, 0);
  return {
    elapsed,
    requests,
    counts,
    byOp,
    failures,
    samples,
    fiveXX,
    middlePeak: { rss: peak(third(1), 'rss'), heap: peak(third(1), 'heap') },
    lastPeak: { rss: peak(third(2), 'rss'), heap: peak(third(2), 'heap') },
    heapFloor: { middle: floor(third(1), 'heap'), last: floor(third(2), 'heap') },
    plateau: { rss: plateau('rss'), heap: plateau('heap') },
  };
}

function render(r) {
  const first = r.samples[0];
  const last = r.samples[r.samples.length - 1];
  const max = (key) => Math.max(...r.samples.map((s) => s[key]).filter(Number.isFinite));
  // The first sample's lag histogram still holds start-up (migrations, WASM compile).
  const lags = r.samples
    .slice(1)
    .map((s) => s.lagP99)
    .filter(Number.isFinite);
  const ms = (seconds) => `${Math.round(seconds * 1000 * 10) / 10} ms`;
  const statuses = Object.entries(r.counts)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ');
  const ops = Object.entries(r.byOp)
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
  const yes = (ok) => (ok ? 'yes' : '**NO**');
  return [
    `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ${Math.round(r.elapsed)} s, ${WORKERS} workers`,
    '',
    `Node ${process.version}, embedded PGlite, in-process counters, mock upstream, ` +
      `ACCESS_TOKEN_TTL=${process.env.SOAK_ACCESS_TOKEN_TTL ?? '60s'}; ` +
      `${r.requests} requests (${Math.round(r.requests / r.elapsed)}/s): ${ops}.`,
    '',
    '| | start | end | max |',
    '|---|---|---|---|',
    `| RSS (MiB) | ${mib(first.rss)} | ${mib(last.rss)} | ${mib(max('rss'))} |`,
    `| heap used (MiB) | ${mib(first.heap)} | ${mib(last.heap)} | ${mib(max('heap'))} |`,
    `| event-loop lag p99 (per sample) | ${ms(lags[0])} | ${ms(lags[lags.length - 1])} | ${ms(Math.max(...lags))} |`,
    '',
    `- Statuses: ${statuses}; 5xx: ${r.fiveXX}.` +
      (r.failures.length ? ` Worker failures: ${r.failures.join('; ')}.` : ''),
    `- Plateau (last third within 10% of the middle third): ` +
      `RSS peak ${yes(r.plateau.rss)} (${mib(r.middlePeak.rss)} → ${mib(r.lastPeak.rss)} MiB), ` +
      `heap floor (what survives GC) ${yes(r.plateau.heap)} (${mib(r.heapFloor.middle)} → ${mib(r.heapFloor.last)} MiB; ` +
      `sampled heap peaks ${mib(r.middlePeak.heap)} → ${mib(r.lastPeak.heap)} MiB).`,
    `- Series (s: RSS/heap MiB): ${r.samples
      .map((s) => `${Math.round(s.t)}: ${mib(s.rss)}/${mib(s.heap)}`)
      .join(', ')}.`,
    `- ${r.samples.length} samples every ${SAMPLE_SECONDS} s (RSS from /proc, heap and lag from /metrics).`,
    '',
  ].join('\n');
}

/** Append-only: other sections of BENCHMARKS.md belong to the benchmark runs. */
function appendToBenchmarks(text) {
  const file = join(root, 'BENCHMARKS.md');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  let out = '';
  if (!/^## Soak$/m.test(current)) {
    out +=
      `${current === '' || current.endsWith('\n\n') ? '' : current.endsWith('\n') ? '\n' : '\n\n'}## Soak\n\n` +
      'Mixed traffic (sign-ins, refreshes, chat, streamed chat, key lists) against one ' +
      'process for a bounded time: `npm run soak` (`SOAK_SECONDS`, default 180). Memory must ' +
      'plateau; each run appends its figures here.\n\n';
  } else if (!current.endsWith('\n')) {
    out += '\n';
  }
  appendFileSync(file, `${out}${text}\n`);
}

main().catch((error) => {
  process.stderr.write(`soak failed: ${error.stack ?? error}\n`);
  process.exit(1);
});
