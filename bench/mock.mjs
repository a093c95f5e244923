/**
 * The mock upstream for the benchmark: the project's mock OpenAI server (built `dist/`)
 * with no pause between streamed chunks, so the numbers measure the gateways and not a
 * sleep. `node bench/mock.mjs <port> <api key>`
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { startMockOpenAI } = require(join(root, 'dist/tools/mock-openai/mock-openai.js'));

const [portArg, apiKey] = process.argv.slice(2);
const mock = await startMockOpenAI({ port: Number(portArg), apiKey, streamChunkDelayMs: 0 });
// The mock records every request for tests; under load that list would only grow.
setInterval(() => mock.requests.splice(0), 1000).unref();
process.stdout.write(`ready mock ${mock.url}\n`);
process.on('SIGTERM', () => void mock.close().then(() => process.exit(0)));
