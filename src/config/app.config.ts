import { z } from 'zod';
import { boolean, byteSize, commaList, integer, optionalString } from './schema-helpers';

export const appConfigSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: integer(3000, 0, 65535),
    DATA_DIR: z.string().min(1).default('./data'),
    TRUST_PROXY: z
      .string()
      .default('false')
      .transform((value, ctx): false | string[] => {
        // Only proxies named by address are trusted: the client address is then the
        // right-most X-Forwarded-For entry not added by a trusted proxy, never the
        // client-controlled left-most one. `true` names the private ranges a load
        // balancer usually sits in. (Fastify refuses bare hop counts for the same reason.)
        if (value === 'false' || value === '') return false;
        if (value === 'true') return ['loopback', 'linklocal', 'uniquelocal'];
        const list = value.split(',').map((part) => part.trim());
        const named = ['loopback', 'linklocal', 'uniquelocal'];
        if (
          list.some((part) => !named.includes(part) && !/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(part))
        ) {
          ctx.addIssue({
            code: 'custom',
            message:
              'must be false, true, or a comma list of proxy IPs/CIDRs (or loopback, linklocal, uniquelocal)',
          });
          return z.NEVER;
        }
        return list;
      }),
    BODY_LIMIT: byteSize('1mb'),
    CORS_ORIGINS: commaList(),
    SWAGGER_ENABLED: optionalString(),
    METRICS_TOKEN: optionalString(),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
    SHUTDOWN_TIMEOUT_MS: integer(25000, 0),
    PUBLIC_URL: optionalString().pipe(
      z
        .url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' })
        .refine((value) => !/[?#]/.test(value), {
          message: 'must not have a query or a fragment',
        })
        .optional(),
    ),
  })
  .transform((env) => ({
    nodeEnv: env.NODE_ENV,
    production: env.NODE_ENV === 'production',
    host: env.HOST,
    port: env.PORT,
    dataDir: env.DATA_DIR,
    trustProxy: env.TRUST_PROXY,
    bodyLimit: env.BODY_LIMIT,
    corsOrigins: env.CORS_ORIGINS,
    swaggerEnabled:
      env.SWAGGER_ENABLED === undefined
        ? env.NODE_ENV !== 'production'
        : boolean(false).parse(env.SWAGGER_ENABLED),
    metricsToken: env.METRICS_TOKEN,
    logLevel: env.LOG_LEVEL,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    /** Origin (and optional path prefix) clients reach Keyward at, without a trailing slash. */
    publicUrl: env.PUBLIC_URL?.replace(/\/+$/, ''),
  }));
export type AppConfig = z.output<typeof appConfigSchema>;

/**
 * The one place that turns a Keyward path into the URL Keyward advertises (RFC 8414
 * metadata, the OIDC redirect URL's default...): absolute under PUBLIC_URL; without it the
 * path alone, or under `fallbackBase` when the caller has one (an http(s) JWT_ISSUER).
 */
export function publicUrl(
  app: Pick<AppConfig, 'publicUrl'>,
  path: string,
  fallbackBase = '',
): string {
  return `${app.publicUrl ?? fallbackBase}${path}`;
}
