// Cost of the tokenizer that bills streams cut short (src/chat/token-estimate.ts):
// `node bench/token-estimate.mjs`. Prints load time, resident memory it adds, and the time
// to count typical and large texts. Run on an idle machine; numbers go to docs/chat.md.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const rssBefore = process.memoryUsage().rss;
const loadStart = performance.now();
const { countTokens } = require('gpt-tokenizer/cjs/encoding/cl100k_base');
const loadMs = performance.now() - loadStart;
const rssAdded = (process.memoryUsage().rss - rssBefore) / 2 ** 20;

const english = 'The quick brown fox jumps over the lazy dog. ';
const japanese = 'これは日本語のテキストです。東京は日本の首都であり、多くの人が住んでいます。';

function perCall(text, rounds) {
  countTokens(text); // warm
  const start = performance.now();
  for (let i = 0; i < rounds; i += 1) countTokens(text);
  return (performance.now() - start) / rounds;
}

const rows = [
  ['load cl100k_base (first use)', `${loadMs.toFixed(0)} ms, +${rssAdded.toFixed(0)} MiB RSS`],
  ['count 1 KiB English', `${(perCall(english.repeat(23), 2000) * 1000).toFixed(0)} µs`],
  ['count 16k chars English', `${perCall(english.repeat(360), 50).toFixed(2)} ms`],
  ['count 1k chars Japanese', `${(perCall(japanese.repeat(26), 500) * 1000).toFixed(0)} µs`],
  ['count 16k chars Japanese', `${perCall(japanese.repeat(420), 20).toFixed(2)} ms`],
];
for (const [what, value] of rows) console.log(`${what.padEnd(32)} ${value}`);
