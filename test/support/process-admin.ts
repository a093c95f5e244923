import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli';

/**
 * BOOTSTRAP_ADMIN_* only acts on an empty user table. On the PostgreSQL database shared by
 * `npm run test:services` other suites have created users already, so a suite that starts
 * Keyward as a process creates its admin through the CLI first. (On a fresh PGlite copy
 * the bootstrap variables do it, and are tested that way.)
 */
export async function ensureAdmin(
  username: string,
  password: string,
  env: Record<string, string>,
): Promise<void> {
  if (!env.DATABASE_URL) return;
  const stdin = new PassThrough();
  stdin.end(`${password}\n`);
  let errors = '';
  const code = await runCli(
    ['users', 'create', username, '--role', 'admin', '--password-stdin'],
    {
      stdin,
      stdout: { write: () => true },
      stderr: { write: (text: string) => ((errors += text), true) },
    },
    {
      NODE_ENV: 'test',
      DATA_DIR: env.DATA_DIR ?? '',
      DATABASE_URL: env.DATABASE_URL,
      // The shared audit chain's key (test:services sets it for every app of the run).
      ...(process.env.AUDIT_HMAC_KEY ? { AUDIT_HMAC_KEY: process.env.AUDIT_HMAC_KEY } : {}),
    },
  );
  if (code !== 0) throw new Error(`could not create ${username}: ${errors}`);
}
