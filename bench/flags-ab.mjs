/**
 * `node bench/flags-ab.mjs <node flags...>` (after `npm run build`): is a Node/V8 flag worth
 * it? Two Keyward servers side by side on the embedded database: A with the flags of
 * `npm run start:prod` less the ones named (whatever their value), B with those plus the ones
 * given (so `--heap-growing-percent=50` compares start:prod without it and with it); the same load alternates between
 * them (autocannon, 100 connections, `GET /api/v1/auth/me` then non-streamed chat against the
 * mock upstream, 4 s slots, order A/B then B/A over 4 rounds), so other tenants' load hits
 * both alike. Prints each slot's server CPU per request (all threads) and RSS, then the
 * medians and each server's final and peak RSS. Used for `--heap-growing-percent=50`
 * (bench/NOTES.md, issue 17's memory round).
 *
 * Two builds instead of two flag sets: `--base <checkout>` runs A from that checkout's
 * `dist/` (e.g. a worktree of main, built) and B from this one's, both with start:prod's
 * flags (plus any given, on B). `--targets me,me_cookie,live,chat` picks the loads (default
 * `me,chat`; `me` is the ES256 bearer token, `me_cookie` the access cookie, `live` the
 * public health route); `--rounds <n>` (default 4), `--slot <s>` (default 4). The last lines
 * give, per target, the median of B/A over the rounds (each round's two slots are adjacent in
 * time, so a ratio is less disturbed by other tenants than either figure). LOG_LEVEL is `info`, as in production
 * (the access line is part of every request's cost).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { freePort } from '../scripts/free-port.mjs';
import { CHAT_REQUEST, ROOT, cpuMs, procMiB, prodNodeFlags } from './process-stats.mjs';

const MOCK_KEY = 'sk-mock-bench';
const PASSWORD = randomBytes(18).toString('base64url');
const { values: opts, positionals: extra } = parseArgs({
  allowPositionals: true,
  options: {
    base: { type: 'string' },
    targets: { type: 'string', default: 'me,chat' },
    rounds: { type: 'string', default: '4' },
    slot: { type: 'string', default: '4' },
  },
});
const ROUNDS = Number(opts.rounds);
const SLOT_SECONDS = Number(opts.slot);
const TARGETS = opts.targets.split(',');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const children = [];
const tmp = mkdtempSync(join(os.tmpdir(), 'keyward-flags-ab-'));

async function waitOk(url, init, child) {
  for (let i = 0; i < 6000; i += 1) {
    if (child.exitCode !== null) throw new Error(`exited at start (code ${child.exitCode})`);
    try {
      const response = await fetch(url, init);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${url} did not answer`);
}

function run(args, env, log) {
  const out = openSync(log, 'a');
  const child = spawn(process.execPath, args, {
    cwd: tmp,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', out, out],
  });
  children.push(child);
  return child;
}

function slot(server, target) {
  const before = cpuMs(server.pid);
  return new Promise((resolve, reject) =>
    autocannon(
      { ...server.targets[target], connections: 100, duration: SLOT_SECONDS },
      (error, result) =>
        error
          ? reject(error)
          : resolve({
              us: ((cpuMs(server.pid) - before) * 1000) / Math.max(1, result.requests.total),
              requests: result.requests.total,
              failed: result.non2xx + result.errors + result.timeouts,
              rss: procMiB(server.pid, 'VmRSS'),
            }),
    ),
  );
}

async function main() {
  if (extra.length === 0 && !opts.base) {
    throw new Error('usage: node bench/flags-ab.mjs [--base <checkout>] <node flags...>');
  }
  const mockPort = await freePort();
  const mockOrigin = `http://127.0.0.1:${mockPort}`;
  const mock = run(
    [join(ROOT, 'bench/mock.mjs'), String(mockPort), MOCK_KEY],
    {},
    join(tmp, 'mock.log'),
  );
  await waitOk(
    `${mockOrigin}/v1/models`,
    { headers: { authorization: `Bearer ${MOCK_KEY}` } },
    mock,
  );
  const servers = {};
  const named = new Set(extra.map((flag) => flag.split('=')[0]));
  const base = prodNodeFlags().filter((flag) => !named.has(flag.split('=')[0]));
  for (const [name, flags, root] of [
    ['A', base, opts.base ? resolve(opts.base) : ROOT],
    ['B', [...base, ...extra], ROOT],
  ]) {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const child = run(
      [...flags, join(root, 'dist/src/main.js')],
      {
        NODE_ENV: 'development',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATA_DIR: join(tmp, `data-${name}`),
        COOKIE_SECURE: 'false',
        SWAGGER_ENABLED: 'false',
        LOG_LEVEL: 'info',
        BOOTSTRAP_ADMIN_USERNAME: 'bench',
        BOOTSTRAP_ADMIN_PASSWORD: PASSWORD,
        OPENAI_API_KEY: MOCK_KEY,
        OPENAI_BASE_URL: `${mockOrigin}/v1`,
        ACCESS_TOKEN_TTL: '1h',
        CHAT_RPM: '1000000000',
        CHAT_DAILY_TOKENS: '1000000000000',
      },
      join(tmp, `keyward-${name}.log`),
    );
    await waitOk(`${origin}/health/ready`, undefined, child).catch((error) => {
      process.stderr.write(readFileSync(join(tmp, `keyward-${name}.log`), 'utf8'));
      throw error;
    });
    const token = await fetch(`${origin}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'password', username: 'bench', password: PASSWORD }),
    }).then((response) => response.json());
    const auth = { authorization: `Bearer ${token.access_token}` };
    const signIn = await fetch(`${origin}/api/v1/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bench', password: PASSWORD }),
    });
    const cookie = signIn.headers
      .getSetCookie()
      .map((line) => line.split(';', 1)[0])
      .filter((pair) => !pair.includes('refresh'))
      .join('; ');
    servers[name] = {
      pid: child.pid,
      flags,
      root,
      results: Object.fromEntries(TARGETS.map((target) => [target, []])),
      targets: {
        me: { url: `${origin}/api/v1/auth/me`, headers: auth },
        me_cookie: { url: `${origin}/api/v1/auth/me`, headers: { cookie } },
        live: { url: `${origin}/health/live` },
        chat: {
          url: `${origin}/v1/chat/completions`,
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify(CHAT_REQUEST),
        },
      },
    };
  }
  for (const name of ['A', 'B']) for (const target of TARGETS) await slot(servers[name], target);
  const rss = (name) => procMiB(servers[name].pid, 'VmRSS').toFixed(1);
  console.log(`after warm-up: RSS A ${rss('A')} MiB, B ${rss('B')} MiB`);
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = round % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    for (const target of TARGETS) {
      for (const name of order) {
        const result = await slot(servers[name], target);
        servers[name].results[target].push(result);
        console.log(
          `round ${round + 1} ${name} ${target.padEnd(9)} ${result.us.toFixed(0)} µs/request ` +
            `(${result.requests} requests, ${result.failed} failed), RSS ${result.rss.toFixed(1)} MiB`,
        );
      }
    }
  }
  for (const name of ['A', 'B']) {
    const { flags, results, pid, root } = servers[name];
    const medians = TARGETS.map(
      (target) => `${target} ${median(results[target].map((r) => r.us)).toFixed(0)}`,
    );
    console.log(
      `${name} ${root} [${flags.join(' ')}]: median µs/request ${medians.join(', ')}; RSS at ` +
        `the end ${procMiB(pid, 'VmRSS').toFixed(1)} MiB, peak ${procMiB(pid, 'VmHWM').toFixed(1)} MiB`,
    );
  }
  for (const target of TARGETS) {
    const ratios = servers.B.results[target].map(
      (result, round) => result.us / servers.A.results[target][round].us,
    );
    console.log(
      `${target}: B/A median ${median(ratios).toFixed(3)}, B lower in ` +
        `${ratios.filter((ratio) => ratio < 1).length} of ${ratios.length} rounds`,
    );
  }
}

main()
  .catch((error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.all(
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
    rmSync(tmp, { recursive: true, force: true });
  });
