import { AwsSecretSource, describeAwsError } from './aws-secret-source';
import { ConfigError } from './config-error';
import { configFromEnvironment, type LoadedConfig, parseNamespace } from './configuration';
import { resolveEnvironment } from './environment';
import { type SecretsConfig, secretsConfigSchema } from './secrets.config';

/** Fetches the provider's secret document; replaceable in unit tests. */
export type SecretFetcher = (config: SecretsConfig) => Promise<Record<string, unknown>>;

export const fetchAwsSecret: SecretFetcher = async (config) => {
  const source = new AwsSecretSource(config);
  try {
    return await source.fetch();
  } finally {
    source.destroy();
  }
};

/**
 * The start-up entry point (main.ts, the CLI, the e2e factory): with
 * `SECRETS_PROVIDER=aws` it fetches the secret first, then hands it to the same
 * synchronous `loadConfig` that resolves and validates everything else. A fetch failure is
 * one line naming AWS_SECRET_ID, without SDK text or stack.
 */
export async function loadConfigFromProviders(
  processEnv: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
  fetchSecret: SecretFetcher = fetchAwsSecret,
): Promise<LoadedConfig> {
  // Resolved once: the same files and `.env` are read for the provider settings and the rest.
  const env = resolveEnvironment(processEnv, cwd);
  const secrets = parseNamespace(secretsConfigSchema, env);
  if (secrets.provider !== 'aws') return configFromEnvironment(env, cwd);
  let document: Record<string, unknown>;
  try {
    document = await fetchSecret(secrets);
  } catch (error) {
    throw new ConfigError(
      'AWS_SECRET_ID',
      `could not be read from AWS Secrets Manager (${describeAwsError(error)})`,
    );
  }
  return configFromEnvironment(env, cwd, document);
}
