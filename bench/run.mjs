/**
 * `npm run bench`: Keyward side by side with the limits (issue 7), in one run.
 *
 * Starts, each as its own process on loopback: the mock upstream, a bare Fastify JSON
 * route, a minimal Fastify + undici proxy (bench/limits.mjs), and Keyward itself (built
 * `dist/`, embedded PGlite in a temporary DATA_DIR). Servers are pinned to CPU 0 and this
 * process (the load generator) to CPU 1 when `taskset` exists. Load phases run in
 * alternating A/B rounds (the order flips each round) so drift (thermal, other tenants)
 * hits both sides alike; every ratio compares numbers taken in this same run.
 *
 * Options: --duration <s> per load slot (default 5), --rounds <n> (default 3),
 * --connections <n> (default 100), --profile (Keyward runs with --cpu-prof; the profile is
 * left in the temporary directory named at the end), --only auth|chat|seq (one load group
 * or only the sequential client, no report: for profiling one kind of traffic), --log-level <level> (Keyward's LOG_LEVEL,
 * default info), --no-write (skip BENCHMARKS.md), --no-pin (no CPU pinning: a diagnosis aid).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Client } from 'undici';
import { freePort } from '../scripts/free-port.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KEYWARD_MAIN = join(ROOT, 'dist/src/main.js');
const MOCK_KEY = 'sk-mock-bench';

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '100' },
    'seq-requests': { type: 'string', default: '300' },
    profile: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    // Profiling aid: run one load group only (auth or chat), no table.
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    // Diagnosis aid: no CPU pinning (servers and load share both CPUs).
    'no-pin': { type: 'boolean', default: false },
  },
});
const DURATION = Number(opts.duration);
const ROUNDS = Number(opts.rounds);
const CONNECTIONS = Number(opts.connections);
const SEQ_REQUESTS = Number(opts['seq-requests']);

// --- CPU pinning -------------------------------------------------------------------------

function hasTaskset() {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// --- processes -----------------------------------------------------------------------------

const children = [];

/** Starts a server process on CPU 0; resolves once `ready()` says it answers. */
async function startServer(name, args, { env = {}, cwd = ROOT, logFile, ready }) {
  const command = PINNING ? 'taskset' : process.execPath;
  const argv = PINNING ? ['-c', '0', process.execPath, ...args] : args;
  const out = logFile ? openSync(logFile, 'a') : 'ignore';
  const child = spawn(command, argv, {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', out, logFile ? out : 'inherit'],
  });
  children.push(child);
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited at start (see ${logFile})`);
    if (await ready().catch(() => false)) break;
    if (Date.now() - started > 60_000) throw new Error(`${name} did not become ready`);
    await sleep(100);
  }
  return child;
}

function stopAll() {
  return Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', resolve);
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function ok(url, init) {
  const response = await fetch(url, init);
  await response.arrayBuffer();
  return response.ok;
}

/** Resident set size of a process (Linux /proc), in MiB. */
function rssMiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// --- measurement ---------------------------------------------------------------------------

function cannon({ url, method = 'GET', headers = {}, body, duration }) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, method, headers, body, connections: CONNECTIONS, duration, timeout: 10 },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function median(values) {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** `<name>;...;dur=1.2` out of a Server-Timing header. */
function timingDur(header, name) {
  const match = new RegExp(`${name};[^,]*dur=([\\d.]+)`).exec(header ?? '');
  return match ? Number(match[1]) : NaN;
}

/**
 * One connection, one request at a time: per-request latency (ms) to the end of the body,
 * time to the first body byte, and the Server-Timing header when present.
 */
async function sequential(client, request, count) {
  const total = [];
  const firstByte = [];
  const serverTiming = [];
  const upstreamTiming = [];
  for (let i = 0; i < count; i += 1) {
    const start = performance.now();
    const response = await client.request(request);
    let first = NaN;
    for await (const chunk of response.body) {
      if (Number.isNaN(first) && chunk.length > 0) first = performance.now() - start;
    }
    const end = performance.now() - start;
    if (response.statusCode !== 200) throw new Error(`sequential: status ${response.statusCode}`);
    total.push(end);
    firstByte.push(first);
    const timing = response.headers['server-timing'];
    if (timing) {
      serverTiming.push(timingDur(String(timing), 'keyward'));
      upstreamTiming.push(timingDur(String(timing), 'upstream'));
    }
  }
  return { total, firstByte, serverTiming, upstreamTiming };
}

// --- the run -------------------------------------------------------------------------------

async function main() {
  if (!existsSync(KEYWARD_MAIN)) throw new Error('dist/ missing: run `npm run build` first');
  const runStarted = Date.now();
  const tmp = mkdtempSync(join(os.tmpdir(), 'keyward-bench-'));
  const log = (line) => process.stdout.write(`${line}\n`);
  log(`bench: temp dir ${tmp}; servers on CPU 0, load on CPU 1: ${PINNING ? 'yes' : 'no'}`);
  process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));

  try {
    const [mockPort, barePort, proxyPort, keywardPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const mockOrigin = `http://127.0.0.1:${mockPort}`;
    const bareOrigin = `http://127.0.0.1:${barePort}`;
    const proxyOrigin = `http://127.0.0.1:${proxyPort}`;
    const keyward = `http://127.0.0.1:${keywardPort}`;
    const password = randomBytes(18).toString('base64url');

    await startServer('mock', ['bench/mock.mjs', String(mockPort), MOCK_KEY], {
      logFile: join(tmp, 'mock.log'),
      ready: () =>
        ok(`${mockOrigin}/v1/models`, { headers: { authorization: `Bearer ${MOCK_KEY}` } }),
    });
    await startServer('bare', ['bench/limits.mjs', 'bare', String(barePort)], {
      logFile: join(tmp, 'bare.log'),
      ready: () => ok(`${bareOrigin}/health/live`),
    });
    await startServer(
      'proxy',
      ['bench/limits.mjs', 'proxy', String(proxyPort), mockOrigin, MOCK_KEY],
      { logFile: join(tmp, 'proxy.log'), ready: () => ok(`${proxyOrigin}/health/live`) },
    );
    // KEYWARD_BENCH_NODE_ARGS: extra node flags for Keyward (e.g. `-r ./preload.cjs`).
    const keywardArgs = [
      ...(process.env.KEYWARD_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ...(opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(tmp, 'profile')}`] : []),
      KEYWARD_MAIN,
    ];
    const keywardProcess = await startServer('keyward', keywardArgs, {
      // cwd: the temp dir, so no developer `.env` changes what is measured.
      cwd: tmp,
      logFile: join(tmp, 'keyward.log'),
      env: {
        NODE_ENV: 'development',
        HOST: '127.0.0.1',
        PORT: String(keywardPort),
        DATA_DIR: join(tmp, 'data'),
        COOKIE_SECURE: 'false',
        SWAGGER_ENABLED: 'false',
        LOG_LEVEL: opts['log-level'],
        BOOTSTRAP_ADMIN_USERNAME: 'bench',
        BOOTSTRAP_ADMIN_PASSWORD: password,
        OPENAI_API_KEY: MOCK_KEY,
        OPENAI_BASE_URL: `${mockOrigin}/v1`,
        ACCESS_TOKEN_TTL: '1h',
        // The per-user limits would refuse a benchmark; the checks still run on every request.
        CHAT_RPM: '1000000000',
        CHAT_DAILY_TOKENS: '1000000000000',
      },
      ready: () => ok(`${keyward}/health/ready`),
    });
    const pid = keywardProcess.pid;

    // Credentials: a JWT from the token endpoint, an API key made with it, a cookie session.
    const tokenResponse = await fetch(`${keyward}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'password', username: 'bench', password }),
    });
    const { access_token: jwt } = await tokenResponse.json();
    if (!jwt) throw new Error(`token endpoint: ${tokenResponse.status}`);
    const keyResponse = await fetch(`${keyward}/api/v1/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt}` },
      body: JSON.stringify({ name: 'bench', scopes: ['chat', 'usage'] }),
    });
    const { key: apiKey } = await keyResponse.json();
    if (!apiKey) throw new Error(`API key: ${keyResponse.status}`);
    const sessionResponse = await fetch(`${keyward}/api/v1/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bench', password }),
    });
    const cookie = sessionResponse.headers
      .getSetCookie()
      .map((line) => line.split(';', 1)[0])
      .filter((pair) => !pair.includes('refresh'))
      .join('; ');
    if (!sessionResponse.ok || !cookie.includes('kw_access'))
      throw new Error(`session: ${sessionResponse.status}`);
    const header = JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString());
    if (header.alg !== 'ES256') throw new Error(`expected an ES256 token, got ${header.alg}`);

    const chatBody = JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello to the benchmark in a few words.' }],
    });
    const streamBody = JSON.stringify({ ...JSON.parse(chatBody), stream: true });
    const json = { 'content-type': 'application/json' };
    const keyAuth = { ...json, authorization: `Bearer ${apiKey}` };
    const mockAuth = { ...json, authorization: `Bearer ${MOCK_KEY}` };
    const chatPath = '/v1/chat/completions';

    const targets = {
      bare: { url: `${bareOrigin}/api/v1/auth/me` },
      me_jwt: {
        url: `${keyward}/api/v1/auth/me`,
        headers: { authorization: `Bearer ${jwt}` },
        keyward: true,
      },
      me_key: {
        url: `${keyward}/api/v1/auth/me`,
        headers: { authorization: `Bearer ${apiKey}` },
        keyward: true,
      },
      me_cookie: { url: `${keyward}/api/v1/auth/me`, headers: { cookie }, keyward: true },
      live: { url: `${keyward}/health/live`, keyward: true },
      mock: { url: `${mockOrigin}${chatPath}`, method: 'POST', headers: mockAuth, body: chatBody },
      proxy: { url: `${proxyOrigin}${chatPath}`, method: 'POST', headers: json, body: chatBody },
      keyward: {
        url: `${keyward}${chatPath}`,
        method: 'POST',
        headers: keyAuth,
        body: chatBody,
        keyward: true,
      },
      mock_sse: {
        url: `${mockOrigin}${chatPath}`,
        method: 'POST',
        headers: mockAuth,
        body: streamBody,
      },
      proxy_sse: {
        url: `${proxyOrigin}${chatPath}`,
        method: 'POST',
        headers: json,
        body: streamBody,
      },
      keyward_sse: {
        url: `${keyward}${chatPath}`,
        method: 'POST',
        headers: keyAuth,
        body: streamBody,
        keyward: true,
      },
    };

    const load = {};
    const rss = [{ phase: 'after start', mib: rssMiB(pid) }];
    const problems = [];
    async function slot(name, duration) {
      const result = await cannon({ ...targets[name], duration });
      const failed = result.non2xx + result.errors + result.timeouts;
      if (failed > 0) problems.push(`${name}: ${failed} failed of ${result.requests.total}`);
      return result;
    }
    async function group(label, names) {
      log(`\n${label}: warm-up`);
      for (const name of names) await slot(name, 2);
      rss.push({ phase: `${label} warm-up`, mib: rssMiB(pid) });
      for (let round = 0; round < ROUNDS; round += 1) {
        const order = round % 2 === 0 ? names : [...names].reverse();
        for (const name of order) {
          const result = await slot(name, DURATION);
          (load[name] ??= []).push(result);
          log(
            `  round ${round + 1} ${name.padEnd(12)} ${result.requests.average.toFixed(0).padStart(7)} rps` +
              `  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms`,
          );
          if (targets[name].keyward)
            rss.push({ phase: `${name} round ${round + 1}`, mib: rssMiB(pid) });
        }
      }
    }

    // Sequential: one connection each, alternating targets in slices.
    async function runSequential() {
      log('\nsequential (one connection)');
      const clients = {
        bare: new Client(bareOrigin, { pipelining: 1 }),
        mock: new Client(mockOrigin, { pipelining: 1 }),
        proxy: new Client(proxyOrigin, { pipelining: 1 }),
        keyward: new Client(keyward, { pipelining: 1 }),
      };
      const seqTargets = {
        bare: [clients.bare, { method: 'GET', path: '/api/v1/auth/me' }],
        me_jwt: [
          clients.keyward,
          { method: 'GET', path: '/api/v1/auth/me', headers: { authorization: `Bearer ${jwt}` } },
        ],
        mock: [clients.mock, { method: 'POST', path: chatPath, headers: mockAuth, body: chatBody }],
        proxy: [clients.proxy, { method: 'POST', path: chatPath, headers: json, body: chatBody }],
        keyward: [
          clients.keyward,
          { method: 'POST', path: chatPath, headers: keyAuth, body: chatBody },
        ],
        mock_sse: [
          clients.mock,
          { method: 'POST', path: chatPath, headers: mockAuth, body: streamBody },
        ],
        proxy_sse: [
          clients.proxy,
          { method: 'POST', path: chatPath, headers: json, body: streamBody },
        ],
        keyward_sse: [
          clients.keyward,
          { method: 'POST', path: chatPath, headers: keyAuth, body: streamBody },
        ],
      };
      const seq = {};
      const seqNames = Object.keys(seqTargets);
      for (const name of seqNames) await sequential(...seqTargets[name], 50); // warm-up
      const slices = 4;
      for (let slice = 0; slice < slices; slice += 1) {
        const order = slice % 2 === 0 ? seqNames : [...seqNames].reverse();
        for (const name of order) {
          const part = await sequential(...seqTargets[name], Math.ceil(SEQ_REQUESTS / slices));
          const into = (seq[name] ??= {
            total: [],
            firstByte: [],
            serverTiming: [],
            upstreamTiming: [],
          });
          for (const field of Object.keys(into)) into[field].push(...part[field]);
        }
      }
      await Promise.all(Object.values(clients).map((client) => client.close()));
      return seq;
    }

    if (opts.only === 'seq') {
      const seq = await runSequential();
      for (const [name, data] of Object.entries(seq)) {
        const q = (field, p) =>
          quantile(
            [...data[field]].sort((a, b) => a - b),
            p,
          ).toFixed(2);
        log(
          `  ${name.padEnd(12)} total p50 ${q('total', 0.5)} p99 ${q('total', 0.99)}  first byte p50 ${q('firstByte', 0.5)}` +
            (data.serverTiming.length
              ? `  Server-Timing keyward ${median(data.serverTiming)} upstream ${median(data.upstreamTiming)}`
              : ''),
        );
      }
      await stopAll();
      return;
    }
    if (opts.only) {
      const names = {
        auth: ['me_jwt', 'me_key', 'me_cookie', 'live'],
        chat: ['keyward', 'keyward_sse'],
      }[opts.only];
      if (!names) throw new Error(`--only: auth or chat, not ${opts.only}`);
      await group(opts.only, names);
      await stopAll();
      log(opts.profile ? `CPU profile of Keyward: ${join(tmp, 'profile')}` : 'done');
      return;
    }
    await group('auth', ['bare', 'me_jwt', 'me_key', 'me_cookie', 'live']);
    await group('chat', ['mock', 'proxy', 'keyward', 'mock_sse', 'proxy_sse', 'keyward_sse']);
    const seq = await runSequential();
    rss.push({ phase: 'after sequential', mib: rssMiB(pid) });

    const report = summarise({ load, seq, rss, problems, runStarted });
    log(`\n${report.table}`);
    if (problems.length) log(`\nPROBLEMS: ${problems.join('; ')}`);
    if (!opts['no-write']) {
      // `npm run soak` appends its own section; keep it when rewriting the bench part.
      const path = join(ROOT, 'BENCHMARKS.md');
      const previous = existsSync(path) ? readFileSync(path, 'utf8') : '';
      const soakAt = previous.indexOf('\n## Soak');
      const soak = soakAt >= 0 ? previous.slice(soakAt) : '';
      writeFileSync(path, `${report.markdown.trimEnd()}\n${soak}`);
      log('\nwrote BENCHMARKS.md');
    }
    await stopAll();
    if (opts.profile) log(`CPU profile of Keyward: ${join(tmp, 'profile')}`);
    else rmSync(tmp, { recursive: true, force: true });
    log(`bench took ${((Date.now() - runStarted) / 1000).toFixed(0)} s`);
  } catch (error) {
    await stopAll();
    process.stderr.write(`bench failed: ${error.stack ?? error}\nlogs in ${tmp}\n`);
    process.exit(1);
  }
}

// --- report --------------------------------------------------------------------------------

function summarise({ load, seq, rss, problems, runStarted }) {
  const rps = (name) => median(load[name].map((r) => r.requests.average));
  const lat = (name, p) => median(load[name].map((r) => r.latency[p]));
  const sorted = (values) => values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const sp = (name, field, q) => quantile(sorted(seq[name][field]), q);
  const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
  const f2 = (v) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
  const verdict = (pass) => (pass ? 'met' : '**not met**');

  const rows = [];
  const add = (what, value, target, pass) =>
    rows.push({
      what,
      value,
      target: target ?? '',
      status: pass === undefined ? '' : verdict(pass),
    });

  add('bare Fastify `/api/v1/auth/me` (no auth)', `${rps('bare').toFixed(0)} rps`, 'baseline');
  for (const [name, label] of [
    ['me_jwt', '`GET /api/v1/auth/me`, ES256 Bearer JWT'],
    ['me_key', '`GET /api/v1/auth/me`, API key'],
    ['me_cookie', '`GET /api/v1/auth/me`, session cookie'],
    ['live', '`GET /health/live` (public)'],
  ]) {
    const ratio = rps(name) / rps('bare');
    add(
      `${label} vs bare`,
      `${rps(name).toFixed(0)} rps = **${f2(ratio)}**`,
      name === 'me_jwt' ? '≥ 0.50' : undefined,
      name === 'me_jwt' ? ratio >= 0.5 : undefined,
    );
  }
  add(
    'mock upstream direct, non-stream',
    `${rps('mock').toFixed(0)} rps, p50 ${lat('mock', 'p50')} / p99 ${lat('mock', 'p99')} ms`,
    'baseline',
  );
  add(
    'minimal Fastify + undici proxy, non-stream',
    `${rps('proxy').toFixed(0)} rps = ${f2(rps('proxy') / rps('mock'))} of mock, p50 ${lat('proxy', 'p50')} / p99 ${lat('proxy', 'p99')} ms`,
    'baseline',
  );
  for (const [name, proxy, mock, label] of [
    ['keyward', 'proxy', 'mock', 'non-stream'],
    ['keyward_sse', 'proxy_sse', 'mock_sse', 'stream'],
  ]) {
    if (name === 'keyward_sse') {
      add('mock upstream direct, stream', `${rps('mock_sse').toFixed(0)} rps`, 'baseline');
      add(
        'minimal proxy, stream',
        `${rps('proxy_sse').toFixed(0)} rps = ${f2(rps('proxy_sse') / rps('mock_sse'))} of mock`,
        'baseline',
      );
    }
    const vsProxy = rps(name) / rps(proxy);
    add(
      `Keyward \`POST /v1/chat/completions\` ${label}: rps vs minimal proxy`,
      `${rps(name).toFixed(0)} rps = **${f2(vsProxy)}** (${f2(rps(name) / rps(mock))} of mock)`,
      '≥ 0.80',
      vsProxy >= 0.8,
    );
    add(
      `… ${label} under load: added latency vs proxy / vs mock (p50, p99)`,
      `+${lat(name, 'p50') - lat(proxy, 'p50')} / +${lat(name, 'p99') - lat(proxy, 'p99')} ms; ` +
        `+${lat(name, 'p50') - lat(mock, 'p50')} / +${lat(name, 'p99') - lat(mock, 'p99')} ms`,
    );
  }
  const seqOver = (q) => sp('keyward', 'total', q) - sp('mock', 'total', q);
  add(
    'sequential non-stream: overhead vs mock direct, p50',
    `${f2(seqOver(0.5))} ms (Keyward ${f2(sp('keyward', 'total', 0.5))}, proxy ${f2(sp('proxy', 'total', 0.5))}, mock ${f2(sp('mock', 'total', 0.5))})`,
    '≤ 1 ms',
    seqOver(0.5) <= 1,
  );
  add(
    'sequential non-stream: overhead vs mock direct, p99',
    `${f2(seqOver(0.99))} ms (Keyward ${f2(sp('keyward', 'total', 0.99))}, proxy ${f2(sp('proxy', 'total', 0.99))}, mock ${f2(sp('mock', 'total', 0.99))})`,
    '≤ 3 ms',
    seqOver(0.99) <= 3,
  );
  const ttfb = (q) => sp('keyward_sse', 'firstByte', q) - sp('mock_sse', 'firstByte', q);
  add(
    'sequential stream TTFB overhead vs mock direct, p50',
    `${f2(ttfb(0.5))} ms (Keyward ${f2(sp('keyward_sse', 'firstByte', 0.5))}, proxy ${f2(sp('proxy_sse', 'firstByte', 0.5))}, mock ${f2(sp('mock_sse', 'firstByte', 0.5))})`,
    '≤ 1 ms',
    ttfb(0.5) <= 1,
  );
  add(
    'sequential stream TTFB overhead, p99; whole stream overhead p50',
    `${f2(ttfb(0.99))} ms; ${f2(sp('keyward_sse', 'total', 0.5) - sp('mock_sse', 'total', 0.5))} ms`,
  );
  add(
    'sequential `/me` ES256 JWT vs bare, p50 / p99 added',
    `${f2(sp('me_jwt', 'total', 0.5) - sp('bare', 'total', 0.5))} / ${f2(sp('me_jwt', 'total', 0.99) - sp('bare', 'total', 0.99))} ms`,
  );
  const stNonStream = median(seq.keyward.serverTiming);
  const stStream = median(seq.keyward_sse.serverTiming);
  const upNonStream = median(seq.keyward.upstreamTiming);
  add(
    '`Server-Timing: keyward;dur` p50, non-stream vs measured overhead p50',
    `${f2(stNonStream)} ms vs ${f2(seqOver(0.5))} ms (difference ${f2(seqOver(0.5) - stNonStream)} ms)`,
  );
  add(
    '`Server-Timing: upstream;dur` p50 (network time, stamped in the upstream fetch) vs the mock measured directly, p50',
    `${f2(upNonStream)} ms vs ${f2(sp('mock', 'total', 0.5))} ms (difference ${f2(upNonStream - sp('mock', 'total', 0.5))} ms)`,
  );
  add(
    '`Server-Timing: keyward;dur` p50, stream vs measured TTFB overhead p50',
    `${f2(stStream)} ms vs ${f2(ttfb(0.5))} ms (difference ${f2(ttfb(0.5) - stStream)} ms)`,
  );
  const settled = rss.filter((r) => !r.phase.includes('start') && !r.phase.includes('warm-up'));
  const first = settled[0].mib;
  const last = settled[settled.length - 1].mib;
  const max = Math.max(...settled.map((r) => r.mib));
  // "Flat": after the first measured phase, RSS grows by at most 15% (or 32 MiB) to the end.
  const flat = last - first <= Math.max(32, first * 0.15);
  add(
    'Keyward RSS across load phases (first measured → peak → last)',
    `${f1(first)} → ${f1(max)} → ${f1(last)} MiB (start ${f1(rss[0].mib)})`,
    'flat',
    flat,
  );

  const table = [
    `| measurement | value | target | status |`,
    `|---|---|---|---|`,
    ...rows.map((r) => `| ${r.what} | ${r.value} | ${r.target} | ${r.status} |`),
  ].join('\n');
  const cpus = os.cpus();
  const machine =
    `${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`;
  const rssTable = [
    '| after phase | Keyward RSS (MiB) |',
    '|---|---|',
    ...rss.map((r) => `| ${r.phase} | ${f1(r.mib)} |`),
  ].join('\n');
  const notesPath = join(ROOT, 'bench/NOTES.md');
  const notes = existsSync(notesPath) ? readFileSync(notesPath, 'utf8') : '';
  const markdown = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/run.mjs); the notes come from bench/NOTES.md. -->',
    '',
    `- Command: \`npm run bench\` (autocannon -c ${CONNECTIONS}, ${DURATION} s per slot, ${ROUNDS} alternating rounds, sequential ${SEQ_REQUESTS} requests per target)`,
    `- Machine: ${machine}`,
    `- Pinning: ${PINNING ? 'servers on CPU 0, load generator on CPU 1 (taskset)' : 'none (taskset or a second CPU missing)'}`,
    `- Date: ${new Date(runStarted).toISOString()}; run took ${((Date.now() - runStarted) / 1000).toFixed(0)} s`,
    `- Keyward: built \`dist/\`, own process, embedded PGlite in a temporary DATA_DIR, LOG_LEVEL=${opts['log-level']} (logs to a file); mock upstream in its own process with no delay between SSE chunks.`,
    '- rps: median over the rounds; latency percentiles from autocannon (whole milliseconds); sequential figures from one keep-alive connection (undici), in milliseconds.',
    problems.length
      ? `- **Problems in this run:** ${problems.join('; ')}`
      : '- Every request in every phase answered 200.',
    '',
    table,
    '',
    '## RSS after each phase',
    '',
    rssTable,
    '',
    notes,
  ].join('\n');
  return { table, markdown };
}

// --- entry (last, so every module-level binding above is initialised) ----------------

// Decided once, in the parent: pinned, this process sees a single CPU.
const PINNING =
  !opts['no-pin'] &&
  (process.env.KEYWARD_BENCH_PINNED === '1' || (hasTaskset() && os.availableParallelism() >= 2));
if (PINNING && process.env.KEYWARD_BENCH_PINNED !== '1') {
  // Re-run this script on CPU 1; the servers get CPU 0.
  const child = spawn('taskset', ['-c', '1', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, KEYWARD_BENCH_PINNED: '1' },
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await main();
}
