/**
 * `npm run bench`: Keyward side by side with the limits and a peer, in one run.
 *
 * Starts, each as its own process on loopback: the mock upstream, a bare Fastify JSON
 * route, a minimal Fastify + undici proxy (bench/limits.mjs), Portkey's open-source gateway
 * (`@portkey-ai/gateway` from node_modules) and Keyward itself (built `dist/`, embedded
 * PGlite in a temporary DATA_DIR, the Node flags of `npm run start:prod`); at the end
 * Keyward once more on PostgreSQL for its start time and idle RSS. Servers are pinned to CPU 0 and this
 * process (the load generator) to CPU 1 when `taskset` exists. Load phases run in
 * alternating A/B rounds (the order flips each round) so drift (thermal, other tenants)
 * hits both sides alike; every ratio compares numbers taken in this same run.
 *
 * Options: --duration <s> per load slot (default 5), --rounds <n> (default 3),
 * --connections <n> (default 100), --profile (Keyward runs with --cpu-prof; the profile is
 * left in the temporary directory named at the end), --only auth|chat|seq (one load group
 * or only the sequential client, no report: for profiling one kind of traffic; `--only keys`: Keyward's
 * chat with a personal key without a policy beside the team key's, on one server), --log-level <level> (Keyward's LOG_LEVEL,
 * default info), --no-write (skip BENCHMARKS.md), --no-pin (no CPU pinning: a diagnosis aid),
 * --pg-url <url> (PostgreSQL for the last phase; default the local test server, '' to skip).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Client } from 'undici';
import { freePort } from '../scripts/free-port.mjs';
import {
  CHAT_REQUEST,
  ROOT,
  cpuMs,
  cpuMsByThread,
  keywardNodeFlags,
  ok,
  procMiB,
  stopProcess,
} from './process-stats.mjs';

const KEYWARD_MAIN = join(ROOT, 'dist/src/main.js');
const PORTKEY_MAIN = join(ROOT, 'node_modules/@portkey-ai/gateway/build/start-server.js');
/** Concurrent sign-in loops in the burst phase. */
const BURST_CONCURRENCY = 16;
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
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
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

/**
 * Starts a server process on CPU 0; resolves once `ready()` says it answers, with the
 * child and its start time (spawn to first ready answer, polled every 10 ms).
 */
async function startServer(
  name,
  args,
  { env = {}, cwd = ROOT, logFile, ready, timeoutMs = 60_000 },
) {
  const command = PINNING ? 'taskset' : process.execPath;
  const argv = PINNING ? ['-c', '0', process.execPath, ...args] : args;
  const out = logFile ? openSync(logFile, 'a') : 'ignore';
  const child = spawn(command, argv, {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', out, logFile ? out : 'inherit'],
  });
  children.push(child);
  const started = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited at start (see ${logFile})`);
    if (await ready().catch(() => false)) break;
    if (performance.now() - started > timeoutMs) throw new Error(`${name} did not become ready`);
    await sleep(10);
  }
  return { name, child, startMs: performance.now() - started };
}

function stopServer({ child }) {
  return stopProcess(child);
}

function stopAll() {
  return Promise.all(children.map((child) => stopServer({ child })));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const rssMiB = (pid) => procMiB(pid, 'VmRSS');

const peakRssMiB = (pid) => procMiB(pid, 'VmHWM');
const f0 = (v) => (Number.isFinite(v) ? v.toFixed(0) : 'n/a');
const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
const f2 = (v) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');

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

// --- phases ------------------------------------------------------------------------------

/** Keyward's environment for the bench: a temp DATA_DIR (or DATABASE_URL), the mock as upstream. */
function keywardEnv({ port, dataDir, mockOrigin, password, databaseUrl }) {
  return {
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
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
  };
}

/** Waits for a server to settle after start, then reads its RSS. */
async function idleRss(server, settleMs = 3000) {
  await sleep(settleMs);
  server.idleMiB = rssMiB(server.child.pid);
}

/**
 * Phase 1: every server, each its own process on CPU 0, with its start time (spawn to
 * ready) and idle RSS. Keyward starts twice on the embedded database: a first start
 * (initdb on an empty DATA_DIR) and, after a clean stop, the restart that is measured.
 */
async function startServers(tmp, log) {
  const [mockPort, barePort, proxyPort, portkeyPort, keywardPort] = await Promise.all(
    Array.from({ length: 5 }, freePort),
  );
  const origins = {
    mock: `http://127.0.0.1:${mockPort}`,
    bare: `http://127.0.0.1:${barePort}`,
    proxy: `http://127.0.0.1:${proxyPort}`,
    portkey: `http://127.0.0.1:${portkeyPort}`,
    keyward: `http://127.0.0.1:${keywardPort}`,
  };
  const password = randomBytes(18).toString('base64url');
  const servers = {};
  servers.mock = await startServer('mock', ['bench/mock.mjs', String(mockPort), MOCK_KEY], {
    logFile: join(tmp, 'mock.log'),
    ready: () =>
      ok(`${origins.mock}/v1/models`, { headers: { authorization: `Bearer ${MOCK_KEY}` } }),
  });
  servers.bare = await startServer('bare', ['bench/limits.mjs', 'bare', String(barePort)], {
    logFile: join(tmp, 'bare.log'),
    ready: () => ok(`${origins.bare}/health/live`),
  });
  servers.proxy = await startServer(
    'proxy',
    ['bench/limits.mjs', 'proxy', String(proxyPort), origins.mock, MOCK_KEY],
    { logFile: join(tmp, 'proxy.log'), ready: () => ok(`${origins.proxy}/health/live`) },
  );
  servers.portkey = await startServer(
    'portkey',
    [PORTKEY_MAIN, `--port=${portkeyPort}`, '--headless'],
    { logFile: join(tmp, 'portkey.log'), ready: () => ok(`${origins.portkey}/`) },
  );
  const keywardArgs = [
    ...keywardNodeFlags(),
    ...(opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(tmp, 'profile')}`] : []),
    KEYWARD_MAIN,
  ];
  const env = keywardEnv({
    port: keywardPort,
    dataDir: join(tmp, 'data'),
    mockOrigin: origins.mock,
    password,
  });
  // cwd: the temp dir, so no developer `.env` changes what is measured.
  const keywardOptions = {
    cwd: tmp,
    env,
    logFile: join(tmp, 'keyward.log'),
    ready: () => ok(`${origins.keyward}/health/ready`),
  };
  const first = await startServer('keyward (first start)', keywardArgs, keywardOptions);
  await idleRss(first);
  first.peakMiB = peakRssMiB(first.child.pid);
  await stopServer(first);
  servers.keywardFirst = first;
  servers.keyward = await startServer('keyward', keywardArgs, keywardOptions);
  await Promise.all(Object.values(servers).map((server) => server.idleMiB ?? idleRss(server)));
  log(
    `started: ${Object.entries(servers)
      .map(([name, s]) => `${name} ${s.startMs.toFixed(0)} ms / ${f1(s.idleMiB)} MiB`)
      .join(', ')}`,
  );
  return { origins, servers, password, keywardArgs };
}

/** Phase 2: a JWT from the token endpoint, an API key made with it, a cookie session. */
async function signIn(keyward, password) {
  const tokenResponse = await fetch(`${keyward}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'password', username: 'bench', password }),
  });
  const { access_token: jwt } = await tokenResponse.json();
  if (!jwt) throw new Error(`token endpoint: ${tokenResponse.status}`);
  const auth = { 'content-type': 'application/json', authorization: `Bearer ${jwt}` };
  // The chat traffic uses a team key with a policy of its own, so every call goes through
  // the whole policy path: key and team allowlists, rpm counters and token and USD budgets
  // for key, team and user (limits far above what the bench spends), and the request log.
  // A build without teams (an older commit measured with this script) gets a personal key.
  const team = await createTeam(keyward, auth);
  const policy = team
    ? {
        teamId: team.id,
        models: ['gpt-4o-mini'],
        rpm: 100_000_000,
        dailyTokens: 1_000_000_000_000,
        monthlyUsd: 1_000_000,
      }
    : {};
  const apiKey = await createKey(keyward, auth, { name: 'bench', ...policy });
  // `--only keys`: the same calls with a personal key (no team, no policy) beside it.
  const personalKey = team ? await createKey(keyward, auth, { name: 'bench-personal' }) : apiKey;
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
  return { jwt, apiKey, personalKey, cookie };
}

async function createKey(keyward, auth, fields) {
  const response = await fetch(`${keyward}/api/v1/keys`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ scopes: ['chat', 'usage'], ...fields }),
  });
  const { key } = await response.json();
  if (!key) throw new Error(`API key: ${response.status}`);
  return key;
}

/** The bench's team (undefined on a build without teams). */
async function createTeam(keyward, auth) {
  const response = await fetch(`${keyward}/api/v1/admin/teams`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      name: 'bench',
      rpm: 100_000_000,
      dailyTokens: 1_000_000_000_000,
      dailyUsd: 1_000_000,
      models: ['gpt-4o-mini'],
    }),
  });
  return response.status === 201 ? response.json() : undefined;
}

const CHAT_PATH = '/v1/chat/completions';
const CHAT_BODY = JSON.stringify(CHAT_REQUEST);
const STREAM_BODY = JSON.stringify({ ...CHAT_REQUEST, stream: true });

/** What each load target sends; `keyward: true` marks Keyward's (its RSS is sampled after). */
function loadTargets(origins, { jwt, apiKey, personalKey, cookie }) {
  const json = { 'content-type': 'application/json' };
  const keyAuth = { ...json, authorization: `Bearer ${apiKey}` };
  const personalAuth = { ...json, authorization: `Bearer ${personalKey}` };
  const mockAuth = { ...json, authorization: `Bearer ${MOCK_KEY}` };
  // Portkey's gateway: the provider and the upstream come in headers, the key as Bearer.
  const portkeyHeaders = {
    ...mockAuth,
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': `${origins.mock}/v1`,
  };
  const server = (origin) => Object.keys(origins).find((name) => origins[name] === origin);
  const post = (origin, headers, body, keyward) => ({
    url: `${origin}${CHAT_PATH}`,
    method: 'POST',
    headers,
    body,
    keyward,
    server: server(origin),
  });
  const me = `${origins.keyward}/api/v1/auth/me`;
  const onKeyward = { keyward: true, server: 'keyward' };
  return {
    bare: { url: `${origins.bare}/api/v1/auth/me`, server: 'bare' },
    me_jwt: { url: me, headers: { authorization: `Bearer ${jwt}` }, ...onKeyward },
    me_key: { url: me, headers: { authorization: `Bearer ${apiKey}` }, ...onKeyward },
    me_cookie: { url: me, headers: { cookie }, ...onKeyward },
    live: { url: `${origins.keyward}/health/live`, ...onKeyward },
    mock: post(origins.mock, mockAuth, CHAT_BODY),
    proxy: post(origins.proxy, json, CHAT_BODY),
    portkey: post(origins.portkey, portkeyHeaders, CHAT_BODY),
    keyward: post(origins.keyward, keyAuth, CHAT_BODY, true),
    mock_sse: post(origins.mock, mockAuth, STREAM_BODY),
    proxy_sse: post(origins.proxy, json, STREAM_BODY),
    portkey_sse: post(origins.portkey, portkeyHeaders, STREAM_BODY),
    keyward_sse: post(origins.keyward, keyAuth, STREAM_BODY, true),
    keyward_pk: post(origins.keyward, personalAuth, CHAT_BODY, true),
    keyward_pk_sse: post(origins.keyward, personalAuth, STREAM_BODY, true),
  };
}

/**
 * One request to each named target; returns the ones that fail, with the reason, so a peer
 * that cannot serve a kind of request is reported as such instead of failing the run.
 */
async function probeTargets(targets, names) {
  const failed = {};
  for (const name of names) {
    const { url, method = 'GET', headers, body } = targets[name];
    const response = await fetch(url, { method, headers, body });
    const text = await response.text();
    if (!response.ok) failed[name] = `${response.status} ${text.slice(0, 120)}`;
  }
  return failed;
}

/** Phase 3: autocannon load in groups of alternating rounds (targets left out are skipped). */
async function runLoad(targets, groups, { log, rss, problems, keywardPid, pids = {} }) {
  const load = {};
  groups = groups.map(([label, names]) => [label, names.filter((name) => targets[name])]);
  async function slot(name, duration) {
    const pid = pids[targets[name].server];
    const cpuBefore = pid ? cpuMs(pid) : Number.NaN;
    const threadsBefore = pid && targets[name].keyward ? cpuMsByThread(pid) : undefined;
    const result = await cannon({ ...targets[name], duration });
    // Server CPU per completed request, in microseconds.
    const perRequest = (ms) => (ms * 1000) / Math.max(1, result.requests.total);
    result.cpuUsPerRequest = perRequest(cpuMs(pid) - cpuBefore);
    const threadsAfter = threadsBefore && cpuMsByThread(pid);
    if (threadsAfter) {
      result.cpuUsByThread = Object.fromEntries(
        Object.keys(threadsAfter).map((group) => [
          group,
          perRequest(threadsAfter[group] - threadsBefore[group]),
        ]),
      );
    }
    const failed = result.non2xx + result.errors + result.timeouts;
    if (failed > 0) problems.push(`${name}: ${failed} failed of ${result.requests.total}`);
    return result;
  }
  for (const [label, names] of groups) {
    log(`\n${label}: warm-up`);
    for (const name of names) await slot(name, 2);
    rss.push({ phase: `${label} warm-up`, mib: rssMiB(keywardPid) });
    for (let round = 0; round < ROUNDS; round += 1) {
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const result = await slot(name, DURATION);
        (load[name] ??= []).push(result);
        log(
          `  round ${round + 1} ${name.padEnd(14)} ${result.requests.average.toFixed(0).padStart(7)} rps` +
            `  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms` +
            (Number.isFinite(result.cpuUsPerRequest)
              ? `  server CPU ${result.cpuUsPerRequest.toFixed(0)} µs/request`
              : '') +
            (result.cpuUsByThread
              ? ` (${Object.entries(result.cpuUsByThread)
                  .map(([group, us]) => `${group} ${us.toFixed(0)}`)
                  .join(', ')})`
              : ''),
        );
        if (targets[name].keyward)
          rss.push({ phase: `${name} round ${round + 1}`, mib: rssMiB(keywardPid) });
      }
    }
  }
  return load;
}

/**
 * Phase 4: one connection per server, one request at a time, targets alternating in slices.
 * With `pids`, also each server's CPU per sequential request (`cpuUs`, microseconds).
 */
async function runSequential(targets, log, pids = {}) {
  log('\nsequential (one connection)');
  const clients = new Map();
  const clientFor = (url) => {
    const { origin } = new URL(url);
    if (!clients.has(origin)) clients.set(origin, new Client(origin, { pipelining: 1 }));
    return clients.get(origin);
  };
  const names = [
    'bare',
    'me_jwt',
    'mock',
    'proxy',
    'portkey',
    'keyward',
    'mock_sse',
    'proxy_sse',
    'portkey_sse',
    'keyward_sse',
  ].filter((name) => targets[name]);
  const seqTargets = Object.fromEntries(
    names.map((name) => {
      const { url, method = 'GET', headers, body } = targets[name];
      return [name, [clientFor(url), { method, path: new URL(url).pathname, headers, body }]];
    }),
  );
  const seq = {};
  const seqCpu = {};
  for (const name of names) await sequential(...seqTargets[name], 50); // warm-up
  const slices = 4;
  for (let slice = 0; slice < slices; slice += 1) {
    const order = slice % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const pid = pids[targets[name].server];
      const cpuBefore = pid ? cpuMs(pid) : Number.NaN;
      const part = await sequential(...seqTargets[name], Math.ceil(SEQ_REQUESTS / slices));
      const cpu = (seqCpu[name] ??= { ms: 0, requests: 0 });
      cpu.ms += cpuMs(pid) - cpuBefore;
      cpu.requests += part.total.length;
      const into = (seq[name] ??= {
        total: [],
        firstByte: [],
        serverTiming: [],
        upstreamTiming: [],
      });
      for (const field of Object.keys(into)) into[field].push(...part[field]);
    }
  }
  await Promise.all([...clients.values()].map((client) => client.close()));
  for (const [name, cpu] of Object.entries(seqCpu))
    seq[name].cpuUs = (cpu.ms * 1000) / cpu.requests;
  return seq;
}

/**
 * Phase 5: a burst of sign-ins (each an Argon2 verify and session, refresh-token and audit
 * writes) while one client asks `/health/live` in a loop: the probe's latency shows whether
 * that work stalls the event loop.
 */
async function signInBurst(keyward, password, log) {
  log('\nsign-in burst');
  const until = Date.now() + DURATION * 1000;
  const statuses = {};
  const signer = async () => {
    const client = new Client(keyward, { pipelining: 1 });
    while (Date.now() < until) {
      const response = await client.request({
        method: 'POST',
        path: '/api/v1/auth/token',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'password', username: 'bench', password }),
      });
      await response.body.dump();
      statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
    }
    await client.close();
  };
  const probe = async () => {
    const client = new Client(keyward, { pipelining: 1 });
    const latencies = [];
    while (Date.now() < until) {
      const start = performance.now();
      const response = await client.request({ method: 'GET', path: '/health/live' });
      await response.body.dump();
      latencies.push(performance.now() - start);
    }
    await client.close();
    return latencies;
  };
  const [latencies] = await Promise.all([
    probe(),
    ...Array.from({ length: BURST_CONCURRENCY }, signer),
  ]);
  const signIns = statuses[200] ?? 0;
  log(`  ${signIns} sign-ins (${JSON.stringify(statuses)}), ${latencies.length} probes`);
  return { latencies: latencies.sort((a, b) => a - b), statuses, signIns };
}

/**
 * Phase 6: Keyward on PostgreSQL (`--pg-url`, default the local test server): start time and
 * idle RSS only, started after the embedded one has stopped.
 */
async function measureOnPostgres({ tmp, origins, password, keywardArgs }) {
  const url = opts['pg-url'];
  if (!url) return { skipped: 'no --pg-url' };
  const port = await freePort();
  try {
    const server = await startServer('keyward (PostgreSQL)', keywardArgs, {
      cwd: tmp,
      env: keywardEnv({
        port,
        dataDir: join(tmp, 'data-pg'),
        mockOrigin: origins.mock,
        password,
        databaseUrl: url,
      }),
      logFile: join(tmp, 'keyward-pg.log'),
      ready: () => ok(`http://127.0.0.1:${port}/health/ready`),
      timeoutMs: 30_000,
    });
    await idleRss(server);
    server.peakMiB = peakRssMiB(server.child.pid);
    await stopServer(server);
    return server;
  } catch (error) {
    return { skipped: `PostgreSQL at ${url.replace(/\/\/[^@]*@/, '//')}: ${error.message}` };
  }
}

// --- the run -------------------------------------------------------------------------------

async function main() {
  if (!existsSync(KEYWARD_MAIN)) throw new Error('dist/ missing: run `npm run build` first');
  const runStarted = Date.now();
  // The machine is shared: the 1-minute load average every 5 s, reported with the figures.
  const loadSamples = [os.loadavg()[0]];
  setInterval(() => loadSamples.push(os.loadavg()[0]), 5000).unref();
  const tmp = mkdtempSync(join(os.tmpdir(), 'keyward-bench-'));
  const log = (line) => process.stdout.write(`${line}\n`);
  log(`bench: temp dir ${tmp}; servers on CPU 0, load on CPU 1: ${PINNING ? 'yes' : 'no'}`);
  process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));

  try {
    const started = await startServers(tmp, log);
    const { origins, servers, password } = started;
    const credentials = await signIn(origins.keyward, password);
    const targets = loadTargets(origins, credentials);
    const problems = [];
    const skipped = await probeTargets(targets, ['portkey', 'portkey_sse']);
    for (const [name, reason] of Object.entries(skipped)) {
      problems.push(`${name} left out: ${reason}`);
      delete targets[name];
    }
    const keywardPid = servers.keyward.child.pid;
    const rss = [{ phase: 'after start', mib: servers.keyward.idleMiB }];
    const pids = Object.fromEntries(
      Object.entries(servers).map(([name, server]) => [name, server.child.pid]),
    );
    const context = { log, rss, problems, keywardPid, pids };

    if (opts.only) {
      await runOnly(opts.only, targets, context);
      await stopAll();
      log(opts.profile ? `CPU profile of Keyward: ${join(tmp, 'profile')}` : 'done');
      return;
    }
    const load = await runLoad(
      targets,
      [
        ['auth', ['bare', 'me_jwt', 'me_key', 'me_cookie', 'live']],
        ['chat', ['mock', 'proxy', 'portkey', 'keyward']],
        ['stream', ['mock_sse', 'proxy_sse', 'portkey_sse', 'keyward_sse']],
      ],
      context,
    );
    const seq = await runSequential(targets, log);
    rss.push({ phase: 'after sequential', mib: rssMiB(keywardPid) });
    const burst = await signInBurst(origins.keyward, password, log);
    rss.push({ phase: 'after sign-in burst', mib: rssMiB(keywardPid) });
    for (const server of Object.values(servers)) server.peakMiB ??= peakRssMiB(server.child.pid);
    await stopAll();
    const postgres = await measureOnPostgres({ tmp, ...started });

    const report = summarise({
      load,
      seq,
      rss,
      problems,
      runStarted,
      servers,
      burst,
      postgres,
      loadSamples,
    });
    log(`\n${report.table}\n\n${report.serverTable}`);
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
    if (opts.profile) log(`CPU profile of Keyward: ${join(tmp, 'profile')}`);
    else rmSync(tmp, { recursive: true, force: true });
    log(`bench took ${((Date.now() - runStarted) / 1000).toFixed(0)} s`);
  } catch (error) {
    await stopAll();
    process.stderr.write(`bench failed: ${error.stack ?? error}\nlogs in ${tmp}\n`);
    process.exit(1);
  }
}

/** `--only`: one load group, or only the sequential client; printed, no report. */
async function runOnly(only, targets, context) {
  if (only === 'seq') {
    const seq = await runSequential(targets, context.log, context.pids);
    for (const [name, data] of Object.entries(seq)) {
      const q = (field, p) =>
        quantile(
          [...data[field]].sort((a, b) => a - b),
          p,
        ).toFixed(2);
      context.log(
        `  ${name.padEnd(12)} total p50 ${q('total', 0.5)} p99 ${q('total', 0.99)}  first byte p50 ${q('firstByte', 0.5)}` +
          (data.serverTiming.length
            ? `  Server-Timing keyward ${median(data.serverTiming)} upstream ${median(data.upstreamTiming)}`
            : '') +
          (Number.isFinite(data.cpuUs) ? `  server CPU ${data.cpuUs.toFixed(0)} µs/request` : ''),
      );
    }
    return;
  }
  const names = {
    auth: ['bare', 'me_jwt', 'me_key', 'me_cookie', 'live'],
    // The limits beside Keyward: ratios read from one run.
    chat: ['proxy', 'keyward', 'proxy_sse', 'keyward_sse'],
    // Team key against personal key: what the policy path costs, on one server.
    keys: ['keyward_pk', 'keyward', 'keyward_pk_sse', 'keyward_sse'],
  }[only];
  if (!names) throw new Error(`--only: auth, chat, keys or seq, not ${only}`);
  await runLoad(targets, [[only, names]], context);
}

// --- report --------------------------------------------------------------------------------

/** Issue 17's targets, each checked against numbers of this run. */
const TARGETS = {
  meJwtVsBare: 0.5,
  chatVsProxy: 0.5,
  seqAddedP50: 0.5,
  seqAddedP99: 2,
  idleMiB: 200,
  startMs: 1500,
  liveP99UnderSignIns: 50,
};

function summarise({
  load,
  seq,
  rss,
  problems,
  runStarted,
  servers,
  burst,
  postgres,
  loadSamples,
}) {
  // NaN (printed n/a) for a target left out of this run.
  const rps = (name) => (load[name] ? median(load[name].map((r) => r.requests.average)) : NaN);
  const lat = (name, p) => (load[name] ? median(load[name].map((r) => r.latency[p])) : 'n/a');
  const sorted = (values) => values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const sp = (name, field, q) => (seq[name] ? quantile(sorted(seq[name][field]), q) : NaN);
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
    const targeted = name === 'me_jwt';
    add(
      `${label} vs bare`,
      `${rps(name).toFixed(0)} rps = **${f2(ratio)}**`,
      targeted ? `≥ ${TARGETS.meJwtVsBare.toFixed(2)}` : undefined,
      targeted ? ratio >= TARGETS.meJwtVsBare : undefined,
    );
  }
  for (const [suffix, label] of [
    ['', 'non-stream'],
    ['_sse', 'stream'],
  ]) {
    const [mock, proxy, portkey, keyward] = ['mock', 'proxy', 'portkey', 'keyward'].map(
      (name) => `${name}${suffix}`,
    );
    add(`mock upstream direct, ${label}`, `${f0(rps(mock))} rps`, 'baseline');
    add(
      `minimal Fastify + undici proxy, ${label}`,
      `${f0(rps(proxy))} rps = ${f2(rps(proxy) / rps(mock))} of mock, p50 ${lat(proxy, 'p50')} / p99 ${lat(proxy, 'p99')} ms`,
      'baseline',
    );
    add(
      `Portkey gateway, ${label}`,
      `${f0(rps(portkey))} rps = ${f2(rps(portkey) / rps(proxy))} of the proxy, p50 ${lat(portkey, 'p50')} / p99 ${lat(portkey, 'p99')} ms`,
      'peer',
    );
    const vsProxy = rps(keyward) / rps(proxy);
    add(
      `Keyward \`POST /v1/chat/completions\` ${label}: rps vs minimal proxy`,
      `${f0(rps(keyward))} rps = **${f2(vsProxy)}** (${f2(rps(keyward) / rps(portkey))} of Portkey, ${f2(rps(keyward) / rps(mock))} of mock), p50 ${lat(keyward, 'p50')} / p99 ${lat(keyward, 'p99')} ms`,
      `≥ ${TARGETS.chatVsProxy.toFixed(2)}`,
      vsProxy >= TARGETS.chatVsProxy,
    );
  }
  // Added latency: a server's sequential time minus the mock's own, same run.
  const added = (name, q, field = 'total', base = 'mock') =>
    sp(name, field, q) - sp(base, field, q);
  for (const [q, target] of [
    [0.5, TARGETS.seqAddedP50],
    [0.99, TARGETS.seqAddedP99],
  ]) {
    const p = q === 0.5 ? 'p50' : 'p99';
    const keyward = added('keyward', q);
    const portkey = added('portkey', q);
    add(
      `sequential non-stream, added latency vs mock direct, ${p}: Keyward (Portkey, proxy)`,
      `**${f2(keyward)}** ms (Portkey ${f2(portkey)}, proxy ${f2(added('proxy', q))}; mock ${f2(sp('mock', 'total', q))})`,
      `≤ ${target} ms and ≤ Portkey`,
      keyward <= target && keyward <= portkey,
    );
  }
  add(
    'sequential stream, added TTFB p50 / p99: Keyward (Portkey, proxy)',
    `${f2(added('keyward_sse', 0.5, 'firstByte', 'mock_sse'))} / ${f2(added('keyward_sse', 0.99, 'firstByte', 'mock_sse'))} ms ` +
      `(Portkey ${f2(added('portkey_sse', 0.5, 'firstByte', 'mock_sse'))} / ${f2(added('portkey_sse', 0.99, 'firstByte', 'mock_sse'))}, ` +
      `proxy ${f2(added('proxy_sse', 0.5, 'firstByte', 'mock_sse'))} / ${f2(added('proxy_sse', 0.99, 'firstByte', 'mock_sse'))})`,
  );
  add(
    'sequential `/me` ES256 JWT vs bare, p50 / p99 added',
    `${f2(added('me_jwt', 0.5, 'total', 'bare'))} / ${f2(added('me_jwt', 0.99, 'total', 'bare'))} ms`,
  );
  add(
    '`Server-Timing: keyward;dur` p50, non-stream / stream',
    `${f2(median(seq.keyward.serverTiming))} / ${f2(median(seq.keyward_sse.serverTiming))} ms`,
  );
  const liveP99 = quantile(burst.latencies, 0.99);
  add(
    `\`GET /health/live\` during a sign-in burst (${BURST_CONCURRENCY} concurrent, ${burst.signIns} sign-ins in ${DURATION} s), p50 / p99`,
    `${f2(quantile(burst.latencies, 0.5))} / **${f2(liveP99)}** ms over ${burst.latencies.length} probes`,
    `p99 < ${TARGETS.liveP99UnderSignIns} ms`,
    liveP99 < TARGETS.liveP99UnderSignIns,
  );
  const restart = servers.keyward;
  add(
    'Keyward (embedded) idle RSS after a restart / after the first start',
    `**${f1(restart.idleMiB)}** / ${f1(servers.keywardFirst.idleMiB)} MiB`,
    `≤ ${TARGETS.idleMiB} MiB`,
    restart.idleMiB <= TARGETS.idleMiB && servers.keywardFirst.idleMiB <= TARGETS.idleMiB,
  );
  add(
    'Keyward (embedded) start to ready: restart / first start (initdb)',
    `**${restart.startMs.toFixed(0)}** / ${servers.keywardFirst.startMs.toFixed(0)} ms`,
    `≤ ${TARGETS.startMs} ms (restart)`,
    restart.startMs <= TARGETS.startMs,
  );
  const settled = rss.filter((r) => !r.phase.includes('start') && !r.phase.includes('warm-up'));
  const first = settled[0].mib;
  const last = settled[settled.length - 1].mib;
  const max = Math.max(...settled.map((r) => r.mib));
  // "Flat": after the first measured phase, RSS grows by at most 15% (or 32 MiB) to the end.
  const flat = last - first <= Math.max(32, first * 0.15);
  add(
    'Keyward RSS across load phases (first measured → peak → last)',
    `${f1(first)} → ${f1(max)} → ${f1(last)} MiB (idle ${f1(rss[0].mib)})`,
    'flat',
    flat,
  );

  const table = [
    `| measurement | value | target | status |`,
    `|---|---|---|---|`,
    ...rows.map((r) => `| ${r.what} | ${r.value} | ${r.target} | ${r.status} |`),
  ].join('\n');
  const serverRows = [
    ['mock upstream', servers.mock],
    ['bare Fastify', servers.bare],
    ['minimal proxy (Fastify + undici)', servers.proxy],
    ['Portkey gateway', servers.portkey],
    ['Keyward, embedded, first start (initdb)', servers.keywardFirst],
    ['Keyward, embedded, restart (the one loaded)', servers.keyward],
    ['Keyward, PostgreSQL', postgres],
  ];
  const serverTable = [
    '| server | start to ready (ms) | idle RSS (MiB) | peak RSS (MiB) |',
    '|---|---|---|---|',
    ...serverRows.map(([label, s]) =>
      s.skipped
        ? `| ${label} | not measured: ${s.skipped} | | |`
        : `| ${label} | ${s.startMs.toFixed(0)} | ${f1(s.idleMiB)} | ${f1(s.peakMiB)} |`,
    ),
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
    `- Load average (1 min) during the run, sampled every 5 s: min ${Math.min(...loadSamples).toFixed(1)}, median ${median(loadSamples).toFixed(1)}, max ${Math.max(...loadSamples).toFixed(1)}`,
    `- Machine: ${machine}; load average at the end ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(
        ' / ',
      )} (shared: other tenants' load moves single figures, compare ratios within a run)`,
    `- Pinning: ${PINNING ? 'servers on CPU 0, load generator on CPU 1 (taskset)' : 'none (taskset or a second CPU missing)'}`,
    `- Date: ${new Date(runStarted).toISOString()}; run took ${((Date.now() - runStarted) / 1000).toFixed(0)} s`,
    `- Keyward: built \`dist/\`, own process, \`node ${keywardNodeFlags().join(' ')}\` (as \`npm run start:prod\`), embedded PGlite in a temporary DATA_DIR, LOG_LEVEL=${opts['log-level']} (logs to a file); Portkey's gateway \`@portkey-ai/gateway\` ${portkeyVersion()} from node_modules; mock upstream in its own process with no delay between SSE chunks.`,
    '- rps: median over the rounds; latency percentiles from autocannon (whole milliseconds); sequential figures from one keep-alive connection (undici), in milliseconds.',
    problems.length
      ? `- **Problems in this run:** ${problems.join('; ')}`
      : '- Every request in every phase answered 200.',
    '',
    table,
    '',
    '## Start time and memory of every server',
    '',
    "Start: spawn to the first successful readiness answer. Idle RSS: 3 s after ready. Peak RSS: the process's high-water mark (VmHWM) at the end of the run (for the first start and PostgreSQL: before their stop).",
    '',
    serverTable,
    '',
    '## Server CPU per request',
    '',
    "Each server's CPU time (user + system, all its threads) during a load slot divided by the requests it completed, median over the rounds, in microseconds. Other tenants' load moves it far less than requests per second: it is the cost of serving one request.",
    '',
    cpuTable(load),
    '',
    '## Keyward RSS after each phase',
    '',
    rssTable,
    '',
    notes,
  ].join('\n');
  return { table, serverTable, markdown };
}

/** Median server CPU per request of each load target, and Keyward's against the proxy's. */
function cpuTable(load) {
  const perRequest = (name) => {
    const values = (load[name] ?? [])
      .map((result) => result.cpuUsPerRequest)
      .filter(Number.isFinite);
    return values.length ? Number(median(values)) : Number.NaN;
  };
  const rows = Object.keys(load).map((name) => {
    const us = perRequest(name);
    const proxy = name.endsWith('_sse') ? perRequest('proxy_sse') : perRequest('proxy');
    const vs =
      name.startsWith('keyward') && Number.isFinite(proxy)
        ? ` (${(us / proxy).toFixed(2)}× the proxy's)`
        : '';
    return `| ${name} | ${Number.isFinite(us) ? us.toFixed(0) : 'n/a'}${vs} |`;
  });
  return ['| target | server CPU µs/request |', '|---|---|', ...rows].join('\n');
}

function portkeyVersion() {
  try {
    return JSON.parse(
      readFileSync(join(ROOT, 'node_modules/@portkey-ai/gateway/package.json'), 'utf8'),
    ).version;
  } catch {
    return '(version unknown)';
  }
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
