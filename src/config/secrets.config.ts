import { z } from 'zod';
import { integer, optionalString } from './schema-helpers';

export const secretsConfigSchema = z
  .object({
    // `aws` (AWS Secrets Manager) is planned with the scale-out work; until then only `env`.
    SECRETS_PROVIDER: z
      .enum(['env'], { message: 'must be env (aws is not available yet)' })
      .default('env'),
    AWS_SECRET_ID: optionalString(),
    AWS_REGION: optionalString(),
    AWS_ENDPOINT_URL: optionalString(),
    SECRETS_REFRESH_SECONDS: integer(300, 10),
  })
  .transform((env) => ({
    provider: env.SECRETS_PROVIDER,
    awsSecretId: env.AWS_SECRET_ID,
    awsRegion: env.AWS_REGION,
    awsEndpointUrl: env.AWS_ENDPOINT_URL,
    refreshSeconds: env.SECRETS_REFRESH_SECONDS,
  }));
export type SecretsConfig = z.output<typeof secretsConfigSchema>;
