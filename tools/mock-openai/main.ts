/**
 * CLI for the mock OpenAI server, for trying Keyward without network access or an OpenAI key:
 *
 *   node dist/tools/mock-openai/main.js [--port 4010] [--host 127.0.0.1] [--api-key sk-mock]
 *
 * MOCK_OPENAI_PORT, MOCK_OPENAI_HOST and MOCK_OPENAI_API_KEY are read when the flag is absent.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_API_KEY, startMockOpenAI } from './mock-openai';

const USAGE =
  'Usage: node dist/tools/mock-openai/main.js [--port 4010] [--host 127.0.0.1] ' +
  '[--api-key sk-mock-keyward] [--latency-ms 0]';

class UsageError extends Error {}

function parseNonNegativeInt(name: string, raw: string, max: number): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new UsageError(`Invalid ${name} '${raw}': expected an integer from 0 to ${max}.`);
  }
  return value;
}

function readOptions() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'api-key': { type: 'string' },
      'latency-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const env = process.env;
  const apiKey = values['api-key'] ?? env.MOCK_OPENAI_API_KEY ?? DEFAULT_API_KEY;
  if (apiKey === '') throw new UsageError('The API key must not be empty.');
  return {
    help: values.help === true,
    port: parseNonNegativeInt('port', values.port ?? env.MOCK_OPENAI_PORT ?? '4010', 65535),
    host: values.host ?? env.MOCK_OPENAI_HOST ?? '127.0.0.1',
    apiKey,
    latencyMs: parseNonNegativeInt('latency-ms', values['latency-ms'] ?? '0', 600_000),
  };
}

async function main(): Promise<void> {
  let options: ReturnType<typeof readOptions>;
  try {
    options = readOptions();
  } catch (error: unknown) {
    // parseArgs throws TypeErrors for unknown or malformed flags; both are usage mistakes.
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  const mock = await startMockOpenAI(options);
  process.stdout.write(`Mock OpenAI listening on ${mock.url} (API key: ${options.apiKey})\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // Second Ctrl-C: the user does not want to wait for a graceful close.
      process.exit(130);
    }
    stopping = true;
    mock.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`Error while stopping on ${signal}: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`mock-openai: ${message}\n`);
  process.exitCode = 1;
});
