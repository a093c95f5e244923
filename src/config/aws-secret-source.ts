import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseSecretDocument, SecretFormatError } from './provider-secrets';
import type { SecretsConfig } from './secrets.config';

type SecretsManagerSdk = typeof import('@aws-sdk/client-secrets-manager');

/**
 * The one wrapper around the Secrets Manager SDK: reads `AWS_SECRET_ID` and returns its
 * JSON object. Used once before the app is built (start-up) and then by the refresh timer.
 *
 * The SDK is loaded on the first fetch, not when this file is: a server that does not use
 * `SECRETS_PROVIDER=aws` (the embedded default) never loads it, which keeps ~25 MB of
 * resident code and its load time out of every other start (docs/runtime.md).
 */
export class AwsSecretSource {
  private client?: SecretsManagerClient;
  private connecting?: Promise<{ client: SecretsManagerClient; sdk: SecretsManagerSdk }>;
  private readonly secretId: string;

  constructor(private readonly config: SecretsConfig) {
    if (!config.awsSecretId || !config.awsRegion) {
      // The schema already requires both for SECRETS_PROVIDER=aws.
      throw new Error('AWS_SECRET_ID and AWS_REGION are required');
    }
    this.secretId = config.awsSecretId;
  }

  /** The SDK and one client, made once (concurrent first fetches share them). */
  private connect(): Promise<{ client: SecretsManagerClient; sdk: SecretsManagerSdk }> {
    this.connecting ??= this.open();
    return this.connecting;
  }

  private async open(): Promise<{ client: SecretsManagerClient; sdk: SecretsManagerSdk }> {
    const sdk = await import('@aws-sdk/client-secrets-manager');
    this.client = new sdk.SecretsManagerClient({
      region: this.config.awsRegion,
      endpoint: this.config.awsEndpointUrl,
      credentials: this.config.awsCredentials,
      // Start-up should fail in seconds, not minutes, when the endpoint is unreachable;
      // the refresh timer is its own retry.
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 },
    });
    return { client: this.client, sdk };
  }

  async fetch(): Promise<Record<string, unknown>> {
    const { client, sdk } = await this.connect();
    const output = await client.send(new sdk.GetSecretValueCommand({ SecretId: this.secretId }));
    if (output.SecretString === undefined) throw new SecretFormatError();
    return parseSecretDocument(output.SecretString);
  }

  /** Closes the SDK's keep-alive sockets so the process (or a test) can exit. */
  destroy(): void {
    this.client?.destroy();
  }
}

/**
 * Why a fetch failed, in words that are safe to log: the error's class and code and the
 * HTTP status. Never the SDK's message or stack (service text, request details).
 */
export function describeAwsError(error: unknown): string {
  if (error instanceof SecretFormatError) return error.message;
  if (typeof error !== 'object' || error === null) return 'unknown error';
  const { name, code, $metadata } = error as {
    name?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const parts = [
    typeof name === 'string' && /^[\w.]+$/.test(name) ? name : 'Error',
    typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : undefined,
    typeof $metadata?.httpStatusCode === 'number' ? `HTTP ${$metadata.httpStatusCode}` : undefined,
  ];
  return parts.filter((part) => part !== undefined).join(', ');
}
