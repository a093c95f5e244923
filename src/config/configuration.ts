import { resolve } from 'node:path';
import { z } from 'zod';
import { appConfigSchema } from './app.config';
import { auditConfigSchema } from './audit.config';
import { authConfigSchema } from './auth.config';
import { chatConfigSchema } from './chat.config';
import { ConfigError } from './config-error';
import { cookieConfigSchema } from './cookie.config';
import { databaseConfigSchema } from './database.config';
import { pricingConfigSchema } from './pricing.config';
import { requestLogConfigSchema } from './request-log.config';
import { ensureDevelopmentSecrets } from './dev-secrets';
import {
  type RawEnvironment,
  resolveEnvironment,
  secretFilePaths,
  type SecretVariable,
} from './environment';
import { oidcConfigSchema } from './oidc.config';
import { environmentSecretNames, mergeProviderSecrets, ProvidedSecrets } from './provider-secrets';
import { secretsConfigSchema } from './secrets.config';

/** The whole typed configuration; each feature reads its own namespace. */
export interface KeywardConfig {
  readonly app: z.output<typeof appConfigSchema>;
  readonly database: z.output<typeof databaseConfigSchema>;
  readonly auth: z.output<typeof authConfigSchema>;
  readonly cookies: z.output<typeof cookieConfigSchema>;
  readonly chat: z.output<typeof chatConfigSchema>;
  readonly pricing: z.output<typeof pricingConfigSchema>;
  readonly requestLog: z.output<typeof requestLogConfigSchema>;
  readonly audit: z.output<typeof auditConfigSchema>;
  readonly oidc: z.output<typeof oidcConfigSchema>;
  readonly secrets: z.output<typeof secretsConfigSchema> & {
    /** What the provider (AWS) supplied at start: the refresh compares against it. */
    readonly provided: ProvidedSecrets;
    /** Secret variables the environment itself sets: a provider may not set them too. */
    readonly environmentNames: readonly SecretVariable[];
    /** `X_FILE` paths: the file source re-reads them when asked (SecretsService.refresh). */
    readonly files: Partial<Record<SecretVariable, string>>;
    /** What those files held at start: a re-read compares against it. */
    readonly fromFiles: ProvidedSecrets;
  };
}

/** The configuration plus what start-up should tell the operator (paths and names only). */
export type LoadedConfig = KeywardConfig & {
  /** Development secrets generated on this start. */
  generatedSecrets: string[];
  /** One-line warnings to log once the logger exists. */
  warnings: string[];
};

export function parseNamespace<S extends z.ZodType>(
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
 * Builds the configuration from the environment: sources (env, `.env`, `X_FILE`, and the
 * secret a provider fetched, `providerDocument`), then development secrets or the
 * production fail-fast rules, then one validated namespace per feature. Throws a
 * `ConfigError` whose one-line message names the variable. Synchronous: fetching from a
 * provider is `loadConfigFromProviders`' job.
 */
export function loadConfig(
  processEnv: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
  providerDocument?: Record<string, unknown>,
): LoadedConfig {
  return configFromEnvironment(resolveEnvironment(processEnv, cwd), cwd, providerDocument);
}

/** `loadConfig` on an environment already resolved (start-up resolves it once). */
export function configFromEnvironment(
  resolved: RawEnvironment,
  cwd: string,
  providerDocument?: Record<string, unknown>,
): LoadedConfig {
  const env: Record<string, string | undefined> = { ...resolved };
  const secrets = parseNamespace(secretsConfigSchema, env);
  const environmentNames = environmentSecretNames(env);
  const warnings: string[] = [];
  let provided = new ProvidedSecrets();
  if (secrets.provider === 'aws') {
    if (!providerDocument) {
      throw new ConfigError('SECRETS_PROVIDER', 'is aws: load with loadConfigFromProviders');
    }
    const merged = mergeProviderSecrets(providerDocument, environmentNames);
    if (merged.conflicts.length > 0) {
      throw new ConfigError(
        merged.conflicts[0],
        'is set both in the environment and in the AWS secret; set only one of them',
      );
    }
    if (merged.invalid.length > 0) {
      throw new ConfigError(merged.invalid[0], 'in the AWS secret must be a string');
    }
    for (const key of merged.unknown) {
      warnings.push(`the AWS secret has a key that is not a secret variable, ignored: ${key}`);
    }
    Object.assign(env, merged.values);
    provided = new ProvidedSecrets(merged.values);
  }
  const files = secretFilePaths(resolved);
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
    pricing: parseNamespace(pricingConfigSchema, env),
    requestLog: parseNamespace(requestLogConfigSchema, env),
    audit: parseNamespace(auditConfigSchema, env),
    oidc: parseNamespace(oidcConfigSchema, env),
    secrets: {
      ...secrets,
      provided,
      environmentNames: [...environmentNames],
      files,
      fromFiles: new ProvidedSecrets(
        Object.fromEntries(Object.keys(files).map((name) => [name, resolved[name]])),
      ),
    },
  };
  config.database.dataDir = config.app.dataDir;
  if (app.production && !config.cookies.secure) {
    throw new ConfigError('COOKIE_SECURE', 'must not be false in production');
  }
  return { ...config, generatedSecrets, warnings };
}

/** docs/reference.md "Configuration": production refuses to start without real secrets. */
function requireProductionSecrets(env: Record<string, string | undefined>): void {
  const algorithm = env.JWT_ALGORITHM ?? 'ES256';
  const keyVariable = algorithm === 'HS256' ? 'JWT_SECRET' : 'JWT_SIGNING_KEYS';
  if (!env[keyVariable]) {
    throw new ConfigError(keyVariable, `(or ${keyVariable}_FILE) is required in production`);
  }
  if (!env.COOKIE_SECRETS) {
    throw new ConfigError('COOKIE_SECRETS', '(or COOKIE_SECRETS_FILE) is required in production');
  }
  if (!env.AUDIT_HMAC_KEY) {
    throw new ConfigError('AUDIT_HMAC_KEY', '(or AUDIT_HMAC_KEY_FILE) is required in production');
  }
}
