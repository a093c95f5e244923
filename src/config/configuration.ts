import { resolve } from 'node:path';
import { z } from 'zod';
import { appConfigSchema } from './app.config';
import { authConfigSchema } from './auth.config';
import { chatConfigSchema } from './chat.config';
import { ConfigError } from './config-error';
import { cookieConfigSchema } from './cookie.config';
import { databaseConfigSchema } from './database.config';
import { ensureDevelopmentSecrets } from './dev-secrets';
import { resolveEnvironment } from './environment';
import { secretsConfigSchema } from './secrets.config';

/** The whole typed configuration; each feature reads its own namespace. */
export interface KeywardConfig {
  readonly app: z.output<typeof appConfigSchema>;
  readonly database: z.output<typeof databaseConfigSchema>;
  readonly auth: z.output<typeof authConfigSchema>;
  readonly cookies: z.output<typeof cookieConfigSchema>;
  readonly chat: z.output<typeof chatConfigSchema>;
  readonly secrets: z.output<typeof secretsConfigSchema>;
}

function parseNamespace<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = typeof issue.path[0] === 'string' ? issue.path[0] : 'configuration';
  // Zod's messages describe the problem, never the value: safe for secrets.
  throw new ConfigError(variable, issue.message.replace(/^Invalid input: /, 'is invalid: '));
}

/**
 * Builds the configuration from the environment: sources (env, `.env`, `X_FILE`), then
 * development secrets or the production fail-fast rules, then one validated namespace per
 * feature. Throws a `ConfigError` whose one-line message names the variable.
 */
export function loadConfig(
  processEnv: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): KeywardConfig & { generatedSecrets: string[] } {
  const env = resolveEnvironment(processEnv, cwd);
  const app = parseNamespace(appConfigSchema, env);
  let generatedSecrets: string[] = [];
  if (app.production) {
    requireProductionSecrets(env);
  } else {
    generatedSecrets = ensureDevelopmentSecrets(env, resolve(cwd, app.dataDir)).generated;
  }
  const config = {
    app: { ...app, dataDir: resolve(cwd, app.dataDir) },
    database: parseNamespace(databaseConfigSchema, env),
    auth: parseNamespace(authConfigSchema, env),
    cookies: parseNamespace(cookieConfigSchema, env),
    chat: parseNamespace(chatConfigSchema, env),
    secrets: parseNamespace(secretsConfigSchema, env),
  };
  config.database.dataDir = config.app.dataDir;
  if (app.production && !config.cookies.secure) {
    throw new ConfigError('COOKIE_SECURE', 'must not be false in production');
  }
  return { ...config, generatedSecrets };
}

/** SPEC "Configuration": production refuses to start without real secrets. */
function requireProductionSecrets(env: Record<string, string | undefined>): void {
  const algorithm = env.JWT_ALGORITHM ?? 'ES256';
  const keyVariable = algorithm === 'HS256' ? 'JWT_SECRET' : 'JWT_SIGNING_KEYS';
  if (!env[keyVariable]) {
    throw new ConfigError(keyVariable, `(or ${keyVariable}_FILE) is required in production`);
  }
  if (!env.COOKIE_SECRETS) {
    throw new ConfigError('COOKIE_SECRETS', '(or COOKIE_SECRETS_FILE) is required in production');
  }
}
