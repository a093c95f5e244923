import { createSecretKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ROLES, type Role } from '../database/schema';
import { parseDuration } from './duration';
import { duration, integer, optionalString } from './schema-helpers';
import {
  parseAsymmetricKeys,
  parseSharedSecrets,
  type SigningKeySet,
  splitSecrets,
} from './signing-keys';

/** Plain http only where nobody else can be on the path: the machine itself. */
function isLoopbackUrl(value: string): boolean {
  const host = new URL(value).hostname;
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

const trustedIssuerSchema = z
  .object({
    issuer: z.string().min(1),
    audience: z.string().min(1),
    jwksUri: z
      .url({ protocol: /^https?$/ })
      .refine((url) => url.startsWith('https:') || isLoopbackUrl(url), {
        message: 'jwksUri must be https (plain http only on loopback)',
      })
      .optional(),
    secret: z.string().min(32, 'secret must be at least 32 bytes').optional(),
    /** The claim holding the issuer's groups or roles; without it external roles are ignored. */
    roleClaim: z.string().min(1).optional(),
    /** Issuer value → Keyward role; values not listed grant nothing. */
    roleMap: z.record(z.string(), z.enum(ROLES as [Role, ...Role[]])).optional(),
    /** Longest accepted `exp - iat` (and `exp - now`); a duration, default 1h. */
    maxTokenLifetime: z
      .string()
      .default('1h')
      .transform((value, ctx) => {
        try {
          return parseDuration(value);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: `maxTokenLifetime ${(error as Error).message}` });
          return z.NEVER;
        }
      }),
  })
  .strict()
  .refine((value) => Boolean(value.jwksUri) !== Boolean(value.secret), {
    message: 'each trusted issuer needs exactly one of jwksUri or secret',
  })
  .refine((value) => Boolean(value.roleClaim) === Boolean(value.roleMap), {
    message: 'roleClaim and roleMap go together',
  });

export interface TrustedIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUri?: string;
  readonly secret?: KeyObject;
  /** Roles come only from this claim, through `roleMap`; otherwise every principal is a user. */
  readonly roleClaim?: string;
  readonly roleMap?: Readonly<Record<string, Role>>;
  readonly maxTokenLifetimeSeconds: number;
}

export const authConfigSchema = z
  .object({
    JWT_ALGORITHM: z.enum(['ES256', 'RS256', 'HS256']).default('ES256'),
    JWT_SIGNING_KEYS: optionalString(),
    JWT_SECRET: optionalString(),
    JWT_ISSUER: z.string().min(1).default('keyward'),
    JWT_AUDIENCE: z.string().min(1).default('keyward-api'),
    JWT_TRUSTED_ISSUERS: optionalString(),
    ACCESS_TOKEN_TTL: duration('10m'),
    REFRESH_IDLE_TTL: duration('24h'),
    REFRESH_ABSOLUTE_TTL: duration('14d'),
    REFRESH_REUSE_GRACE_SECONDS: integer(10, 0, 60),
    API_KEY_MAX_SIGN_IN_AGE: duration('10m'),
    BOOTSTRAP_ADMIN_USERNAME: optionalString(),
    BOOTSTRAP_ADMIN_PASSWORD: optionalString(),
    AUTH_PUBLIC_RPM: integer(60, 1),
    JWT_RESOURCES: optionalString(),
  })
  .transform((env, ctx) => {
    const fail = (path: string, message: string) => {
      ctx.addIssue({ code: 'custom', path: [path], message });
      return z.NEVER;
    };
    let keys: SigningKeySet;
    try {
      if (env.JWT_ALGORITHM === 'HS256') {
        if (!env.JWT_SECRET) return fail('JWT_SECRET', 'is required when JWT_ALGORITHM=HS256');
        keys = parseSharedSecrets(env.JWT_SECRET);
      } else {
        if (!env.JWT_SIGNING_KEYS) {
          return fail('JWT_SIGNING_KEYS', `is required when JWT_ALGORITHM=${env.JWT_ALGORITHM}`);
        }
        keys = parseAsymmetricKeys(env.JWT_ALGORITHM, env.JWT_SIGNING_KEYS);
      }
    } catch (error) {
      const variable = env.JWT_ALGORITHM === 'HS256' ? 'JWT_SECRET' : 'JWT_SIGNING_KEYS';
      return fail(variable, (error as Error).message);
    }
    let trustedIssuers: TrustedIssuer[] = [];
    if (env.JWT_TRUSTED_ISSUERS) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(env.JWT_TRUSTED_ISSUERS);
      } catch {
        return fail('JWT_TRUSTED_ISSUERS', 'is not valid JSON');
      }
      const result = z.array(trustedIssuerSchema).safeParse(parsed);
      if (!result.success) {
        return fail('JWT_TRUSTED_ISSUERS', result.error.issues[0]?.message ?? 'is invalid');
      }
      if (result.data.some((entry) => entry.issuer === env.JWT_ISSUER)) {
        return fail('JWT_TRUSTED_ISSUERS', 'must not list Keyward’s own JWT_ISSUER');
      }
      // Whoever holds a trusted issuer's secret could then mint Keyward's own tokens too.
      const ownSecrets = new Set(splitSecrets(env.JWT_SECRET ?? ''));
      if (result.data.some((entry) => entry.secret !== undefined && ownSecrets.has(entry.secret))) {
        return fail('JWT_TRUSTED_ISSUERS', 'a trusted issuer’s secret must differ from JWT_SECRET');
      }
      trustedIssuers = result.data.map((entry) => ({
        issuer: entry.issuer,
        audience: entry.audience,
        jwksUri: entry.jwksUri,
        secret: entry.secret ? createSecretKey(Buffer.from(entry.secret)) : undefined,
        roleClaim: entry.roleClaim,
        roleMap: entry.roleMap,
        maxTokenLifetimeSeconds: entry.maxTokenLifetime,
      }));
    }
    let resources: string[] = [];
    if (env.JWT_RESOURCES) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(env.JWT_RESOURCES);
      } catch {
        return fail('JWT_RESOURCES', 'is not valid JSON');
      }
      // RFC 8707 §2: a resource is an absolute URI without a fragment.
      const result = z
        .array(
          z
            .string()
            .max(512)
            .refine((value) => URL.canParse(value) && !value.includes('#'), {
              message: 'each resource must be an absolute URI without a fragment',
            }),
        )
        .safeParse(parsed);
      if (!result.success) {
        return fail('JWT_RESOURCES', result.error.issues[0]?.message ?? 'must be a JSON list');
      }
      if (result.data.includes(env.JWT_AUDIENCE)) {
        return fail('JWT_RESOURCES', 'must not list Keyward’s own JWT_AUDIENCE');
      }
      resources = [...new Set(result.data)];
    }
    if (env.REFRESH_ABSOLUTE_TTL < env.REFRESH_IDLE_TTL) {
      return fail('REFRESH_ABSOLUTE_TTL', 'must not be shorter than REFRESH_IDLE_TTL');
    }
    if (Boolean(env.BOOTSTRAP_ADMIN_USERNAME) !== Boolean(env.BOOTSTRAP_ADMIN_PASSWORD)) {
      return fail(
        env.BOOTSTRAP_ADMIN_USERNAME ? 'BOOTSTRAP_ADMIN_PASSWORD' : 'BOOTSTRAP_ADMIN_USERNAME',
        'is required when the other BOOTSTRAP_ADMIN_* variable is set',
      );
    }
    return {
      keys,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      /** RFC 8707 audiences of other services (JWT_RESOURCES); Keyward's own routes refuse them. */
      resources,
      trustedIssuers,
      accessTokenTtl: env.ACCESS_TOKEN_TTL,
      refreshIdleTtl: env.REFRESH_IDLE_TTL,
      refreshAbsoluteTtl: env.REFRESH_ABSOLUTE_TTL,
      /** Two tabs refreshing one browser session at once: see SessionsRepository.rotate. */
      refreshReuseGraceSeconds: env.REFRESH_REUSE_GRACE_SECONDS,
      /** Creating an API key needs a sign-in (`auth_time`) at most this old (seconds). */
      apiKeyMaxSignInAge: env.API_KEY_MAX_SIGN_IN_AGE,
      /** JWT clock-skew tolerance (docs/reference.md "Tokens"). */
      clockToleranceSeconds: 30,
      /** Per address (IPv6: per /64), a minute: refresh, revoke and cookie-session routes. */
      publicRequestsPerMinute: env.AUTH_PUBLIC_RPM,
      bootstrapAdmin: env.BOOTSTRAP_ADMIN_USERNAME
        ? { username: env.BOOTSTRAP_ADMIN_USERNAME, password: env.BOOTSTRAP_ADMIN_PASSWORD! }
        : undefined,
    };
  });
export type AuthConfig = z.output<typeof authConfigSchema>;
