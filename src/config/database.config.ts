import { z } from 'zod';
import { integer, optionalString } from './schema-helpers';

export const databaseConfigSchema = z
  .object({
    DATABASE_URL: optionalString().refine(
      (value) => value === undefined || /^postgres(ql)?:\/\//.test(value),
      'must be a postgres:// or postgresql:// URL',
    ),
    DATA_DIR: z.string().min(1).default('./data'),
    REDIS_URL: optionalString().refine(
      (value) => value === undefined || /^rediss?:\/\//.test(value),
      'must be a redis:// or rediss:// URL',
    ),
    REDIS_KEY_PREFIX: z.string().default('keyward:'),
    USAGE_JOURNAL_APPLY_MS: integer(50, 1, 60_000),
  })
  .transform((env) => ({
    /** Unset: the embedded PGlite database in `DATA_DIR/pgdata`. */
    url: env.DATABASE_URL,
    dataDir: env.DATA_DIR,
    redisUrl: env.REDIS_URL,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
    /**
     * Embedded database: how long settlements wait in the usage journal to be applied to the
     * usage tables together (docs/database.md "The usage journal").
     */
    journalApplyMs: env.USAGE_JOURNAL_APPLY_MS,
  }));
export type DatabaseConfig = z.output<typeof databaseConfigSchema>;
