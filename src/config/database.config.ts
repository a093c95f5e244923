import { z } from 'zod';
import { optionalString } from './schema-helpers';

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
  })
  .transform((env) => ({
    /** Unset: the embedded PGlite database in `DATA_DIR/pgdata`. */
    url: env.DATABASE_URL,
    dataDir: env.DATA_DIR,
    redisUrl: env.REDIS_URL,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
  }));
export type DatabaseConfig = z.output<typeof databaseConfigSchema>;
