/**
 * Summarises a V8 `.cpuprofile` (from `npm run bench -- --profile`): self time by package
 * (or by Node internals / Keyward's own files) and the top functions.
 *
 *   node bench/profile-summary.mjs <file.cpuprofile> [top N] [skip first S seconds] [busy]
 *
 * Skipping the first seconds leaves start-up (PGlite's initdb, module loading) out. `busy`
 * leaves the `(idle)` samples out, so shares are of the thread's busy time (a profile from
 * `bench/flags-ab.mjs` with `--cpu-prof` has idle seconds between its load slots).
 */
import { readFileSync } from 'node:fs';

const [file, topArg, skipArg, busyArg] = process.argv.slice(2);
const busyOnly = busyArg === 'busy';
const top = Number(topArg ?? 40);
const skipMicros = Number(skipArg ?? 0) * 1e6;
const profile = JSON.parse(readFileSync(file, 'utf8'));

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map();
const deltas = profile.timeDeltas;
let elapsed = 0;
for (let i = 0; i < profile.samples.length; i += 1) {
  elapsed += deltas[i] ?? 0;
  if (elapsed < skipMicros) continue;
  const id = profile.samples[i];
  if (busyOnly && byId.get(id).callFrame.functionName === '(idle)') continue;
  self.set(id, (self.get(id) ?? 0) + (deltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);

function bucket(url) {
  if (!url) return '(native / V8)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules !== -1) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return `keyward ${url.slice(dist + 6)}`;
  return url;
}

const packages = new Map();
const functions = new Map();
for (const [id, micros] of self) {
  const node = byId.get(id);
  const { functionName, url, lineNumber } = node.callFrame;
  const group = bucket(url);
  packages.set(group, (packages.get(group) ?? 0) + micros);
  const key = `${functionName || '(anonymous)'} ${group}:${lineNumber + 1}`;
  functions.set(key, (functions.get(key) ?? 0) + micros);
}

const pct = (micros) => `${((100 * micros) / total).toFixed(1).padStart(5)}%`;
console.log(`total sampled ${(total / 1e6).toFixed(1)} s\n\nself time by package:`);
for (const [name, micros] of [...packages].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(micros)}  ${name}`);
}
console.log('\ntop functions (self):');
for (const [name, micros] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(micros)}  ${name}`);
}

// Which of Keyward's own functions the time is spent under (nearest Keyward frame up the
// stack): shows e.g. which service's database calls cost what.
const parent = new Map();
for (const node of profile.nodes)
  for (const child of node.children ?? []) parent.set(child, node.id);
const underKeyward = new Map();
for (const [id, micros] of self) {
  let cursor = id;
  let label = '(no Keyward frame)';
  while (cursor !== undefined) {
    const { url, functionName, lineNumber } = byId.get(cursor).callFrame;
    if (url.includes('/dist/src/')) {
      label = `${functionName || '(anonymous)'} ${bucket(url)}:${lineNumber + 1}`;
      break;
    }
    cursor = parent.get(cursor);
  }
  underKeyward.set(label, (underKeyward.get(label) ?? 0) + micros);
}
console.log('\nby nearest Keyward frame (inclusive):');
for (const [name, micros] of [...underKeyward].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(micros)}  ${name}`);
}

// Node internals and natives charged to the nearest package or Keyward file that called
// them: e.g. web streams and AbortSignal work land on undici / openai.
const underPackage = new Map();
for (const [id, micros] of self) {
  let cursor = id;
  let label = bucket(byId.get(id).callFrame.url);
  while (cursor !== undefined) {
    const group = bucket(byId.get(cursor).callFrame.url);
    if (group !== '(native / V8)' && !group.startsWith('node:')) {
      label = group;
      break;
    }
    cursor = parent.get(cursor);
  }
  underPackage.set(label, (underPackage.get(label) ?? 0) + micros);
}
console.log('\nby nearest package (internals charged to their caller):');
for (const [name, micros] of [...underPackage].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(micros)}  ${name}`);
}

// Inclusive time: each function charged once per sample it is on the stack of (itself or
// anything it called). Fastify runs hooks and the handler as continuations (a hook's
// `done()` calls the next one), so a hook's inclusive share contains the rest of the
// pipeline after it: compare neighbours, not absolute figures.
const inclusive = new Map();
for (const [id, micros] of self) {
  const seen = new Set();
  for (let cursor = id; cursor !== undefined; cursor = parent.get(cursor)) {
    const { functionName, url, lineNumber } = byId.get(cursor).callFrame;
    const key = `${functionName || '(anonymous)'} ${bucket(url)}:${lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
  }
}
console.log('\ntop functions (inclusive):');
for (const [name, micros] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(micros)}  ${name}`);
}
