/**
 * `node <start:prod's flags> bench/upstream-read-ab.mjs [--rounds=N] [--slot=S] [--concurrency=C]`
 * (after `npm run build`): the CPU this process spends per upstream chat call when it reads
 * the answer with A undici's `request()` (a `Readable` per response: `text()`, or `for await`
 * into the stream translator, as Keyward did before issue 17's round 6), B Keyward's dispatch
 * handler (`dispatchRequest`: `collect`, or `pipe` into the translator), C undici's
 * `stream()` with a Writable per response. Only the client side of the call is measured: the
 * mock upstream runs in a child process. The slots' order rotates every round; prints each
 * slot's µs per call and the median ratios to A.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { freePort } from '../scripts/free-port.mjs';
import { CHAT_REQUEST, ROOT } from './process-stats.mjs';

const require = createRequire(import.meta.url);
const { Agent } = require('undici');
const { dispatchRequest, upstreamTarget } = require(join(ROOT, 'dist/src/chat/upstream-fetch.js'));
const { ChatStreamTranslator } = require(join(ROOT, 'dist/src/chat/chat-stream.translator.js'));

const arg = (name, fallback) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const ROUNDS = arg('rounds', 5);
const SLOT_MS = arg('slot', 2) * 1000;
const CONCURRENCY = arg('concurrency', 32);
const KEY = 'sk-mock-bench';

const port = await freePort();
const mock = spawn(process.execPath, [join(ROOT, 'bench/mock.mjs'), String(port), KEY], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => mock.stdout.once('data', resolve));
const target = upstreamTarget(`http://127.0.0.1:${port}/v1/chat/completions`);
const headers = {
  authorization: `Bearer ${KEY}`,
  'content-type': 'application/json',
  accept: 'application/json',
};
const bodies = {
  chat: JSON.stringify(CHAT_REQUEST),
  chat_sse: JSON.stringify({
    ...CHAT_REQUEST,
    stream: true,
    stream_options: { include_usage: true },
  }),
};
const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 });

/** One call, read as before round 6: `request()` and its Readable. */
async function viaRequest(kind) {
  const controller = new AbortController();
  const res = await agent.request({
    origin: target.origin,
    path: target.path,
    method: 'POST',
    headers,
    body: bodies[kind],
    signal: controller.signal,
  });
  if (kind === 'chat') {
    JSON.parse(await res.body.text());
    return;
  }
  const translator = new ChatStreamTranslator(false);
  for await (const chunk of res.body) translator.push(chunk);
  translator.end();
}

/**
 * One call through undici's `stream()`: a factory returns a Writable per response (the API
 * undici calls its faster `request()`); measured as the alternative with less code.
 */
async function viaStream(kind) {
  const controller = new AbortController();
  const chunks = [];
  const translator = kind === 'chat' ? undefined : new ChatStreamTranslator(false);
  await agent.stream(
    {
      origin: target.origin,
      path: target.path,
      method: 'POST',
      headers,
      body: bodies[kind],
      signal: controller.signal,
    },
    () =>
      new Writable({
        write(chunk, _encoding, callback) {
          if (translator) translator.push(chunk);
          else chunks.push(chunk);
          callback();
        },
      }),
  );
  if (translator) translator.end();
  else JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** One call through the dispatch handler. */
async function viaExchange(kind) {
  const controller = new AbortController();
  const res = await dispatchRequest(agent, target, {
    method: 'POST',
    headers,
    body: bodies[kind],
    signal: controller.signal,
  });
  if (kind === 'chat') {
    JSON.parse((await res.collect(64 * 1024 * 1024)).toString('utf8'));
    return;
  }
  const translator = new ChatStreamTranslator(false);
  await new Promise((resolve, reject) =>
    res.pipe({
      data: (chunk) => void translator.push(chunk),
      end: () => {
        translator.end();
        resolve();
      },
      error: reject,
    }),
  );
}

async function slot(call, kind) {
  let calls = 0;
  const until = performance.now() + SLOT_MS;
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await call(kind);
        calls += 1;
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / calls;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const VARIANTS = { A: viaRequest, B: viaExchange, C: viaStream };
for (const kind of ['chat', 'chat_sse']) {
  for (const call of Object.values(VARIANTS)) await slot(call, kind); // warm-up
  const ratios = { B: [], C: [] };
  for (let round = 1; round <= ROUNDS; round += 1) {
    // The order rotates every round, so a drift in the machine's load hits each variant alike.
    const order = ['A', 'B', 'C'].map((_, i, all) => all[(i + round) % all.length]);
    const us = {};
    for (const v of order) us[v] = await slot(VARIANTS[v], kind);
    ratios.B.push(us.B / us.A);
    ratios.C.push(us.C / us.A);
    console.log(
      `round ${round} ${kind.padEnd(8)} µs/call: A request() ${us.A.toFixed(0)}, B dispatch handler ${us.B.toFixed(0)}, C stream() ${us.C.toFixed(0)}`,
    );
  }
  for (const v of ['B', 'C']) {
    const r = ratios[v];
    console.log(
      `${kind}: ${v}/A median ${median(r).toFixed(3)}, ${v} lower in ${r.filter((x) => x < 1).length} of ${r.length}`,
    );
  }
}
await agent.close();
mock.kill('SIGTERM');
