import { z } from 'zod';
import { integer, optionalString } from './schema-helpers';

export const secretsConfigSchema = z
  .object({
    SECRETS_PROVIDER: z.enum(['env', 'aws'], { message: 'must be env or aws' }).default('env'),
    AWS_SECRET_ID: optionalString(),
    AWS_REGION: optionalString(),
    AWS_ENDPOINT_URL: optionalString().refine(
      (value) => value === undefined || /^https?:\/\/[^\s]+$/.test(value),
      'must be an http(s) URL',
    ),
    // Static credentials are optional: without them the SDK's default chain applies
    // (instance or task role, SSO, profiles). Read from this environment, not from
    // process.env, so tests and the CLI can pass their own.
    AWS_ACCESS_KEY_ID: optionalString(),
    AWS_SECRET_ACCESS_KEY: optionalString(),
    AWS_SESSION_TOKEN: optionalString(),
    SECRETS_REFRESH_SECONDS: integer(300, 10),
  })
  .superRefine((env, ctx) => {
    if (env.SECRETS_PROVIDER !== 'aws') return;
    for (const name of ['AWS_SECRET_ID', 'AWS_REGION'] as const) {
      if (!env[name])
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'is required when SECRETS_PROVIDER=aws',
        });
    }
    if (Boolean(env.AWS_ACCESS_KEY_ID) !== Boolean(env.AWS_SECRET_ACCESS_KEY)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.AWS_ACCESS_KEY_ID ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'],
        message: 'is required with the other AWS access-key variable',
      });
    }
  })
  .transform((env) => ({
    provider: env.SECRETS_PROVIDER,
    awsSecretId: env.AWS_SECRET_ID,
    awsRegion: env.AWS_REGION,
    awsEndpointUrl: env.AWS_ENDPOINT_URL,
    awsCredentials:
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            sessionToken: env.AWS_SESSION_TOKEN,
          }
        : undefined,
    refreshSeconds: env.SECRETS_REFRESH_SECONDS,
  }));
export type SecretsConfig = z.output<typeof secretsConfigSchema>;
