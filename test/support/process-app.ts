import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const MAIN = join(__dirname, '..', '..', 'dist', 'src', 'main.js');

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ProcessApp {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: string[];
  /** Resolves with the exit code (null if killed by a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/**
 * Starts `node dist/src/main.js` (built by the e2e globalSetup) and waits until it is ready
 * (a first start on an empty DATA_DIR runs initdb: give it a longer `readyTimeoutMs`).
 */
export async function startProcessApp(
  env: Record<string, string>,
  readyTimeoutMs = 30_000,
): Promise<ProcessApp> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: the e2e globalSetup builds it`);
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      // test:services: every app writes the one shared audit chain, so all share its key.
      ...(process.env.AUDIT_HMAC_KEY ? { AUDIT_HMAC_KEY: process.env.AUDIT_HMAC_KEY } : {}),
      ...env,
      HOST: '127.0.0.1',
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Keyward exited at start: ${output.join('')}`);
    try {
      if ((await fetch(`${url}/health/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > readyTimeoutMs)
      throw new Error(`Keyward did not become ready: ${output.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    child,
    output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
