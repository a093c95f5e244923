import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError } from './config-error';

/** A flat view of the environment after every source has been applied. */
export type RawEnvironment = Readonly<Record<string, string | undefined>>;

/**
 * Variables that may hold a secret. Each can also be given as `X_FILE` (a path whose
 * content is the value: Docker and Kubernetes secrets); setting both is an error.
 * The AWS provider (`SECRETS_PROVIDER=aws`) may supply any of them as well.
 */
export const SECRET_VARIABLES = [
  'JWT_SIGNING_KEYS',
  'JWT_SECRET',
  'COOKIE_SECRETS',
  'AUDIT_HMAC_KEY',
  'OPENAI_API_KEY',
  'BOOTSTRAP_ADMIN_PASSWORD',
  'METRICS_TOKEN',
  'DATABASE_URL',
  'REDIS_URL',
  'OIDC_CLIENT_SECRET',
] as const;
export type SecretVariable = (typeof SECRET_VARIABLES)[number];

/**
 * Resolves the environment from its sources, in order of precedence:
 * the process environment, then `.env` in the working directory (never in production),
 * then `X_FILE` for each secret variable.
 */
export function resolveEnvironment(
  processEnv: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...processEnv };
  if ((env.NODE_ENV ?? 'development') !== 'production') {
    const dotenvPath = resolve(cwd, '.env');
    if (existsSync(dotenvPath)) {
      const fromFile = parseEnv(readFileSync(dotenvPath, 'utf8'));
      for (const [key, value] of Object.entries(fromFile)) {
        if (env[key] === undefined) env[key] = value;
      }
    }
  }
  const files = Object.entries(secretFilePaths(env)) as [SecretVariable, string][];
  for (const [name, path] of files) {
    const fileVariable = `${name}_FILE`;
    if (env[name] !== undefined && env[name] !== '') {
      throw new ConfigError(name, `and ${fileVariable} are both set; set only one of them`);
    }
    try {
      env[name] = readSecretFile(path);
    } catch {
      throw new ConfigError(fileVariable, 'names a file that cannot be read');
    }
  }
  return env;
}

/** A secret file's value. Secret files usually end with a newline that is not part of it. */
export function readSecretFile(path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

/** The `X_FILE` paths the environment names: the secrets a file source supplies. */
export function secretFilePaths(env: RawEnvironment): Partial<Record<SecretVariable, string>> {
  const paths: Partial<Record<SecretVariable, string>> = {};
  for (const name of SECRET_VARIABLES) {
    const path = env[`${name}_FILE`];
    if (path) paths[name] = path;
  }
  return paths;
}
