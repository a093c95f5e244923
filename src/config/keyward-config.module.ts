import { ConfigModule } from '@nestjs/config';
import type { KeywardConfig } from './configuration';

/**
 * The global ConfigModule fed with an already loaded and validated configuration, for the
 * application and the CLI alike: nothing reads `process.env` or `.env` behind its back.
 */
export function keywardConfigModule(config: KeywardConfig) {
  return ConfigModule.forRoot({
    isGlobal: true,
    ignoreEnvFile: true,
    skipProcessEnv: true,
    load: [() => ({ ...config })],
  });
}
