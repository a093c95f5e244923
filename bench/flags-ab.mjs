/**
 * `node bench/flags-ab.mjs <node flags...>` or `node bench/flags-ab.mjs --a=<flags> --b=<flags>
 * [--c=<flags> ...]` (after `npm run build`): is a Node/V8 flag worth it? Keyward servers side
 * by side on the embedded database, one per variant, and the same load alternating between them
 * (autocannon, 100 connections, `GET /api/v1/auth/me`, non-streamed and streamed chat against
 * the mock upstream, 4 s slots, the order rotated every round), so other tenants' load hits all
 * alike.
 *
 * Variants: with plain flags, A is `npm run start:prod`'s flags less the ones named (whatever
 * their value) and B those plus the ones given (so `--heap-growing-percent=50` compares
 * start:prod without it and with it). With `--a=`, `--b=`, ... each variant is start:prod's
 * flags with the given ones replacing any of the same name (`--no-liftoff-only` removes
 * `--liftoff-only`); several flags in one variant are separated by spaces or commas
 * (`--b=--max-semi-space-size=8,--wasm-tiering-budget=1000000000`), `--a=` alone is start:prod.
 * An item `@<dir>` runs that checkout's build (`<dir>/dist/src/main.js`) instead of this one's,
 * so two builds compare in the same run (`--a=@/work/wt-base --b=`).
 * Two builds with the same flags: `--base <checkout>` runs A from that checkout's `dist/` (a
 * worktree of main, built) and B from this one's (plus any plain flags given, on B).
 * Options: `--rounds=N` (4), `--slot=S` seconds (4), `--targets=me,chat,chat_sse` (also
 * `me_cookie`, the access cookie, and `live`, the public health route; `me` is the ES256
 * bearer token). LOG_LEVEL is `info`, as in production (the access line is part of every
 * request's cost). The last lines give, per target and variant, the median over the rounds of
 * its CPU per request divided by A's in the same round (adjacent slots, so a ratio is less
 * disturbed by other tenants than either figure).
 *
 * Each server is started twice on its own DATA_DIR (a first start, stopped, then a restart);
 * its idle RSS is read 3 s and 12 s after the restart is ready (V8's memory reducer starts
 * 8 s after start-up). Prints each slot's server CPU per
 * request (all threads, and main / db / v8 threads), the RSS after each slot, the medians, and
 * each server's idle, final and peak RSS. Used for `--heap-growing-percent=50` and the
 * semi-space and WebAssembly tiering flags (bench/NOTES.md, issue 17).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../scripts/free-port.mjs';
import {
  CHAT_REQUEST,
  ROOT,
  cpuMs,
  cpuMsByThread,
  procMiB,
  prodNodeFlags,
  stopProcess,
} from './process-stats.mjs';

const MOCK_KEY = 'sk-mock-bench';
const PASSWORD = randomBytes(18).toString('base64url');

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

/** A flag's name for replacing: `--no-x` and `--x=1` both name `--x`. */
const flagName = (flag) => flag.split('=')[0].replace(/^--no-/, '--');

/** The variants to compare, from the command line (see the header). */
function variants(argv) {
  const options = {};
  const named = [];
  const plain = [];
  for (let i = 0; i < argv.length; i += 1) {
    let arg = argv[i];
    // `--base <dir>` and `--rounds 3` as well as `--base=<dir>`.
    if (/^--(base|rounds|slot|targets)$/.test(arg)) arg = `${arg}=${argv[(i += 1)]}`;
    const option = /^--(base|rounds|slot|targets)=(.*)$/.exec(arg);
    const variant = /^--([a-z])=(.*)$/.exec(arg);
    if (option) options[option[1]] = option[2];
    else if (variant)
      named.push([variant[1].toUpperCase(), variant[2].split(/[\s,]+/).filter(Boolean)]);
    else plain.push(arg);
  }
  const base = prodNodeFlags();
  const replace = (flags) => {
    const names = new Set(flags.map(flagName));
    return [...base.filter((flag) => !names.has(flagName(flag))), ...flags];
  };
  let list;
  if (named.length > 0)
    list = named.map(([name, items]) => [
      name,
      replace(items.filter((item) => !item.startsWith('@'))),
      resolve(items.find((item) => item.startsWith('@'))?.slice(1) ?? ROOT),
    ]);
  else if (plain.length > 0 || options.base) {
    const names = new Set(plain.map(flagName));
    const without = base.filter((flag) => !names.has(flagName(flag)));
    list = [
      ['A', without, options.base ? resolve(options.base) : ROOT],
      ['B', [...without, ...plain], ROOT],
    ];
  } else
    throw new Error(
      'usage: node bench/flags-ab.mjs [--base <checkout>] <node flags...> | --a=<flags> --b=<flags>',
    );
  return {
    list,
    rounds: Number(options.rounds ?? 4),
    slotSeconds: Number(options.slot ?? 4),
    targets: (options.targets ?? 'me,chat,chat_sse').split(','),
  };
}

function slot(server, target, seconds) {
  const before = cpuMsByThread(server.pid);
  const beforeTotal = cpuMs(server.pid);
  return new Promise((resolve, reject) =>
    autocannon(
      { ...server.targets[target], connections: 100, duration: seconds },
      (error, result) => {
        if (error) return reject(error);
        const n = Math.max(1, result.requests.total);
        const after = cpuMsByThread(server.pid);
        const per = (key) => ((after[key] - before[key]) * 1000) / n;
        resolve({
          us: ((cpuMs(server.pid) - beforeTotal) * 1000) / n,
          main: per('main'),
          db: per('db'),
          v8: per('v8'),
          requests: result.requests.total,
          failed: result.non2xx + result.errors + result.timeouts,
          rss: procMiB(server.pid, 'VmRSS'),
        });
      },
    ),
  );
}

async function startKeyward(name, flags, root, mockOrigin) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const env = {
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
  };
  const log = join(tmp, `keyward-${name}.log`);
  const start = async () => {
    const child = run([...flags, join(root, 'dist/src/main.js')], env, log);
    await waitOk(`${origin}/health/ready`, undefined, child).catch((error) => {
      process.stderr.write(readFileSync(log, 'utf8'));
      throw error;
    });
    return child;
  };
  await stopProcess(await start()); // the first start creates the data directory
  const child = await start();
  await sleep(3000);
  const idle = procMiB(child.pid, 'VmRSS');
  await sleep(9000);
  const idleLater = procMiB(child.pid, 'VmRSS');
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
  const chat = (body) => ({
    url: `${origin}/v1/chat/completions`,
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    name,
    pid: child.pid,
    flags,
    root,
    idle,
    idleLater,
    results: {},
    targets: {
      me: { url: `${origin}/api/v1/auth/me`, headers: auth },
      me_cookie: { url: `${origin}/api/v1/auth/me`, headers: { cookie } },
      live: { url: `${origin}/health/live` },
      chat: chat(CHAT_REQUEST),
      chat_sse: chat({ ...CHAT_REQUEST, stream: true }),
    },
  };
}

async function main() {
  const { list, rounds, slotSeconds, targets } = variants(process.argv.slice(2));
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
  const servers = [];
  for (const [name, flags, root] of list) {
    const server = await startKeyward(name, flags, root, mockOrigin);
    for (const target of targets) server.results[target] = [];
    servers.push(server);
    console.log(
      `${name} [${flags.join(' ')}]${root === ROOT ? '' : ` ${root}`}: idle RSS after a restart ` +
        `${server.idle.toFixed(1)} MiB at 3 s, ${server.idleLater.toFixed(1)} MiB at 12 s`,
    );
  }
  for (const server of servers)
    for (const target of targets) await slot(server, target, slotSeconds);
  console.log(
    `after warm-up: RSS ${servers.map((s) => `${s.name} ${procMiB(s.pid, 'VmRSS').toFixed(1)}`).join(', ')} MiB`,
  );
  for (let round = 0; round < rounds; round += 1) {
    const rotated = servers.map((_, i) => servers[(i + round) % servers.length]);
    const order = round % 2 === 0 ? rotated : rotated.reverse();
    for (const target of targets) {
      for (const server of order) {
        const result = await slot(server, target, slotSeconds);
        server.results[target].push(result);
        console.log(
          `round ${round + 1} ${server.name} ${target.padEnd(8)} ${result.us.toFixed(0)} µs/request ` +
            `(main ${result.main.toFixed(0)}, db ${result.db.toFixed(0)}, v8 ${result.v8.toFixed(0)}; ` +
            `${result.requests} requests, ${result.failed} failed), RSS ${result.rss.toFixed(1)} MiB`,
        );
      }
    }
  }
  for (const server of servers) {
    const medians = targets
      .map((target) => {
        const results = server.results[target];
        const m = (key) => median(results.map((r) => r[key])).toFixed(0);
        return `${target} ${m('us')} (main ${m('main')}, db ${m('db')}, v8 ${m('v8')})`;
      })
      .join(', ');
    console.log(
      `${server.name} ${server.root} [${server.flags.join(' ')}]: median µs/request ${medians}; RSS idle ` +
        `${server.idle.toFixed(1)} / ${server.idleLater.toFixed(1)}, at the end ${procMiB(server.pid, 'VmRSS').toFixed(1)}, ` +
        `peak ${procMiB(server.pid, 'VmHWM').toFixed(1)} MiB`,
    );
  }
  const [first, ...others] = servers;
  for (const target of targets) {
    for (const server of others) {
      const ratios = server.results[target].map(
        (result, round) => result.us / first.results[target][round].us,
      );
      console.log(
        `${target}: ${server.name}/${first.name} median ${median(ratios).toFixed(3)}, ` +
          `${server.name} lower in ${ratios.filter((ratio) => ratio < 1).length} of ${ratios.length} rounds`,
      );
    }
  }
}

main()
  .catch((error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.all(children.map(stopProcess));
    rmSync(tmp, { recursive: true, force: true });
  });
