import { z } from 'zod';
import { boolean } from './schema-helpers';
import { splitSecrets } from './signing-keys';

export const cookieConfigSchema = z
  .object({
    COOKIE_SECURE: boolean(true),
    COOKIE_SECRETS: z
      .string({ message: 'is required' })
      .transform((value) => splitSecrets(value))
      .refine((list) => list.length > 0, 'is empty')
      .refine(
        (list) => list.every((secret) => Buffer.byteLength(secret) >= 32),
        'must be at least 32 bytes per secret',
      ),
  })
  .transform((env) => ({
    secure: env.COOKIE_SECURE,
    /** First signs and encrypts; all verify and decrypt (rotation). */
    secrets: env.COOKIE_SECRETS,
  }));
export type CookieConfig = z.output<typeof cookieConfigSchema>;
