/**
 * `npm run bench:memory`: Keyward's start time and memory on the embedded database, alone and
 * fast enough to iterate on (about 30 s, against several minutes for `npm run bench`).
 *
 * Starts the built `dist/` the way `npm run bench` does (the Node flags and environment of
 * `npm run start:prod`, a temporary DATA_DIR, Swagger off, a mock upstream): a first start
 * (initdb), a clean stop, then the restart that is measured. For each it prints start to ready
 * and the RSS 3 s after ready; then a sign-in burst (16 concurrent `POST /api/v1/auth/token`
 * loops, the bench's burst) with RSS sampled every 250 ms, the process's peak (VmHWM) and the
 * RSS 3 s after the burst. Before the burst: one chat call (the first) and ten more, with their
 * latencies, two embeddings calls (the first loads the `openai` SDK) with theirs, then load
 * phases (autocannon, 100 connections, `--load-seconds` each: `/me`,
 * `/health/live`, chat, streamed chat, then `/me` and chat again) with the server's CPU time per
 * request (all threads) and the RSS after each.
 *
 * Options: --burst-seconds <s> (default 5; 0 skips the burst), --load-seconds <s> (default 3;
 * 0 skips the load phases), --runs <n> (default 1: repeat
 * the restart measurement n times on the same DATA_DIR), --pg-url <url> (measure Keyward on
 * PostgreSQL too), --json (one JSON line, for scripts). Extra Node flags for Keyward come from
 * KEYWARD_BENCH_NODE_ARGS, extra environment from KEYWARD_BENCH_ENV (`A=1 B=2`), as in
 * bench/run.mjs.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { freePort } from '../scripts/free-port.mjs';
import {
  CHAT_REQUEST,
  ROOT,
  cpuMs,
  keywardNodeFlags,
  ok,
  procMiB,
  stopProcess,
} from './process-stats.mjs';

const KEYWARD_MAIN = join(ROOT, 'dist/src/main.js');
const MOCK_KEY = 'sk-mock-bench';
const BURST_CONCURRENCY = 16;

const { values: opts } = parseArgs({
  options: {
    'burst-seconds': { type: 'string', default: '5' },
    'load-seconds': { type: 'string', default: '3' },
    runs: { type: 'string', default: '1' },
    'pg-url': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const BURST_SECONDS = Number(opts['burst-seconds']);
const RUNS = Number(opts.runs);
const LOAD_SECONDS = Number(opts['load-seconds']);

/** Every server this script started and that still runs: stopped on the way out, even on an error. */
const running = new Set();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function extraEnv() {
  const pairs = process.env.KEYWARD_BENCH_ENV?.split(' ').filter(Boolean) ?? [];
  return Object.fromEntries(pairs.map((pair) => pair.split(/=(.*)/s).slice(0, 2)));
}

async function start(args, env, readyUrl, logFile, readyInit) {
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, {
    cwd: env.DATA_DIR ? dirname(env.DATA_DIR) : ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', out, out],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const started = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited at start (see ${logFile})`);
    if (await ok(readyUrl, readyInit).catch(() => false)) break;
    if (performance.now() - started > 60_000) throw new Error('did not become ready');
    await sleep(10);
  }
  return { child, startMs: performance.now() - started };
}

async function signIn(origin, password) {
  const response = await fetch(`${origin}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'password', username: 'bench', password }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`sign-in: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** 16 sign-in loops for `seconds`; RSS sampled every 250 ms. */
async function burst(origin, password, pid, seconds) {
  const until = performance.now() + seconds * 1000;
  let count = 0;
  let maxSampled = 0;
  const sampler = setInterval(() => {
    maxSampled = Math.max(maxSampled, procMiB(pid, 'VmRSS'));
  }, 250);
  await Promise.all(
    Array.from({ length: BURST_CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const response = await fetch(`${origin}/api/v1/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ grant_type: 'password', username: 'bench', password }),
        });
        await response.arrayBuffer();
        // 429: the sign-in concurrency limit answered; only completed sign-ins count.
        if (response.ok) count += 1;
      }
    }),
  );
  clearInterval(sampler);
  return { count, maxSampled };
}

async function post(origin, token, path, body) {
  const started = performance.now();
  const response = await fetch(`${origin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return performance.now() - started;
}

function chat(origin, token) {
  return post(origin, token, '/v1/chat/completions', {
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Hello there, how are you today?' }],
  });
}

/** An embeddings call: the first one loads the `openai` SDK (chat posts without it). */
function embed(origin, token) {
  return post(origin, token, '/v1/embeddings', {
    model: 'text-embedding-3-small',
    input: 'Hello there',
  });
}

/** autocannon at 100 connections for `seconds`; the server's CPU per request, the RSS after. */
function load(request, seconds, pid) {
  const cpuBefore = cpuMs(pid);
  return new Promise((resolve, reject) => {
    autocannon({ ...request, connections: 100, duration: seconds, timeout: 10 }, (error, result) =>
      error
        ? reject(error)
        : resolve({
            requests: result.requests.total,
            failed: result.non2xx + result.errors + result.timeouts,
            cpuUsPerRequest: ((cpuMs(pid) - cpuBefore) * 1000) / Math.max(1, result.requests.total),
            rssMiB: procMiB(pid, 'VmRSS'),
          }),
    );
  });
}

const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');

async function main() {
  const tmp = mkdtempSync(join(os.tmpdir(), 'keyward-memory-'));
  const [mockPort, port] = await Promise.all([freePort(), freePort()]);
  const mockOrigin = `http://127.0.0.1:${mockPort}`;
  const origin = `http://127.0.0.1:${port}`;
  const password = randomBytes(18).toString('base64url');
  await start(
    [join(ROOT, 'bench/mock.mjs'), String(mockPort), MOCK_KEY],
    {},
    `${mockOrigin}/v1/models`,
    join(tmp, 'mock.log'),
    { headers: { authorization: `Bearer ${MOCK_KEY}` } },
  );
  const env = {
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: join(tmp, 'data'),
    COOKIE_SECURE: 'false',
    SWAGGER_ENABLED: 'false',
    LOG_LEVEL: 'warn',
    BOOTSTRAP_ADMIN_USERNAME: 'bench',
    BOOTSTRAP_ADMIN_PASSWORD: password,
    OPENAI_API_KEY: MOCK_KEY,
    OPENAI_BASE_URL: `${mockOrigin}/v1`,
    ACCESS_TOKEN_TTL: '1h',
    CHAT_RPM: '1000000000',
    CHAT_DAILY_TOKENS: '1000000000000',
    ...extraEnv(),
  };
  const args = [...keywardNodeFlags(), KEYWARD_MAIN];
  const ready = `${origin}/health/ready`;
  const log = join(tmp, 'keyward.log');
  const result = { flags: args.slice(0, -1), env: extraEnv() };
  try {
    const first = await start(args, env, ready, log);
    await sleep(3000);
    result.first = { startMs: first.startMs, idleMiB: procMiB(first.child.pid, 'VmRSS') };
    await stopProcess(first.child);
    result.restarts = [];
    let server;
    for (let run = 0; run < RUNS; run += 1) {
      if (server) await stopProcess(server.child);
      server = await start(args, env, ready, log);
      await sleep(3000);
      result.restarts.push({
        startMs: server.startMs,
        idleMiB: procMiB(server.child.pid, 'VmRSS'),
      });
    }
    const pid = server.child.pid;
    const token = await signIn(origin, password);
    const firstChat = await chat(origin, token);
    const later = [];
    for (let i = 0; i < 10; i += 1) later.push(await chat(origin, token));
    result.chat = {
      firstMs: firstChat,
      nextMedianMs: later.sort((a, b) => a - b)[5],
      rssAfterMiB: procMiB(pid, 'VmRSS'),
    };
    const firstEmbed = await embed(origin, token);
    const secondEmbed = await embed(origin, token);
    result.embeddings = {
      firstMs: firstEmbed,
      secondMs: secondEmbed,
      rssAfterMiB: procMiB(pid, 'VmRSS'),
    };
    if (LOAD_SECONDS > 0) {
      const auth = { authorization: `Bearer ${token}` };
      const chatRequest = {
        url: `${origin}/v1/chat/completions`,
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(CHAT_REQUEST),
      };
      result.load = [];
      for (const [phase, request] of [
        ['GET /api/v1/auth/me (JWT)', { url: `${origin}/api/v1/auth/me`, headers: auth }],
        ['GET /health/live', { url: `${origin}/health/live` }],
        ['chat', chatRequest],
        [
          'chat stream',
          { ...chatRequest, body: chatRequest.body.replace(/}$/, ',"stream":true}') },
        ],
        ['GET /api/v1/auth/me (JWT), again', { url: `${origin}/api/v1/auth/me`, headers: auth }],
        ['chat, again', chatRequest],
      ]) {
        result.load.push({ phase, ...(await load(request, LOAD_SECONDS, pid)) });
      }
    }
    if (BURST_SECONDS > 0) {
      const { count, maxSampled } = await burst(origin, password, pid, BURST_SECONDS);
      const endMiB = procMiB(pid, 'VmRSS');
      await sleep(3000);
      result.burst = {
        signIns: count,
        maxSampledMiB: maxSampled,
        endMiB,
        after3sMiB: procMiB(pid, 'VmRSS'),
        peakMiB: procMiB(pid, 'VmHWM'),
      };
    }
    await stopProcess(server.child);
    if (opts['pg-url']) {
      const pg = await start(args, { ...env, DATABASE_URL: opts['pg-url'] }, ready, log);
      await sleep(3000);
      result.postgres = { startMs: pg.startMs, idleMiB: procMiB(pg.child.pid, 'VmRSS') };
      await stopProcess(pg.child);
    }
  } finally {
    await Promise.all([...running].map(stopProcess));
    rmSync(tmp, { recursive: true, force: true });
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const lines = [
    `flags: ${result.flags.join(' ')}${Object.keys(result.env).length ? `; env ${JSON.stringify(result.env)}` : ''}`,
    `first start (initdb): ${result.first.startMs.toFixed(0)} ms, idle ${f1(result.first.idleMiB)} MiB`,
    ...result.restarts.map(
      (r, i) => `restart ${i + 1}: ${r.startMs.toFixed(0)} ms, idle ${f1(r.idleMiB)} MiB`,
    ),
    `chat: first ${f1(result.chat.firstMs)} ms, next median ${f1(result.chat.nextMedianMs)} ms, RSS after ${f1(result.chat.rssAfterMiB)} MiB`,
    `embeddings: first ${f1(result.embeddings.firstMs)} ms, second ${f1(result.embeddings.secondMs)} ms, RSS after ${f1(result.embeddings.rssAfterMiB)} MiB`,
  ];
  for (const phase of result.load ?? []) {
    lines.push(
      `load ${phase.phase}: ${phase.requests} requests (${phase.failed} failed), ` +
        `server CPU ${phase.cpuUsPerRequest.toFixed(0)} µs/request, RSS after ${f1(phase.rssMiB)} MiB`,
    );
  }
  if (result.burst) {
    const b = result.burst;
    lines.push(
      `sign-in burst (${BURST_CONCURRENCY} concurrent, ${BURST_SECONDS} s, ${b.signIns} sign-ins): ` +
        `sampled max ${f1(b.maxSampledMiB)}, at end ${f1(b.endMiB)}, 3 s later ${f1(b.after3sMiB)}, peak (VmHWM) ${f1(b.peakMiB)} MiB`,
    );
  }
  if (result.postgres) {
    lines.push(
      `PostgreSQL: ${result.postgres.startMs.toFixed(0)} ms, idle ${f1(result.postgres.idleMiB)} MiB`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
