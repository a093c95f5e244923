import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli';
import { templateDir } from './pglite-template';

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/**
 * A fresh DATA_DIR for `npm run cli` in a suite: a copy of the PGlite template, or empty
 * under `npm run test:services` (the CLI then uses DATABASE_URL). The caller removes it.
 */
export function cliDataDir(prefix: string): string {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  if (!process.env.DATABASE_URL)
    cpSync(join(templateDir(), 'pgdata'), join(dataDir, 'pgdata'), { recursive: true });
  return dataDir;
}

/**
 * `npm run cli -- <args>` in-process on the suite's database (the shared audit key too, under
 * test:services), with its output captured. `env` adds to or overrides that environment.
 */
export async function runCliIn(
  dataDir: string,
  args: string[],
  { stdin = '', env = {} }: { stdin?: string; env?: Record<string, string> } = {},
): Promise<CliRun> {
  const input = new PassThrough();
  input.end(stdin);
  let out = '';
  let err = '';
  const code = await runCli(
    args,
    {
      stdin: input,
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { write: (s: string) => ((err += s), true) },
    },
    {
      ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
      ...(process.env.AUDIT_HMAC_KEY ? { AUDIT_HMAC_KEY: process.env.AUDIT_HMAC_KEY } : {}),
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      ...env,
    },
  );
  return { code, out, err };
}
