import { Global, Module } from '@nestjs/common';
import { SecretsRefreshService } from './secrets-refresh.service';
import { SecretsService } from './secrets.service';

/**
 * Provider-supplied secrets (docs/reference.md "Configuration": `SECRETS_PROVIDER`) and their
 * refresh.
 */
@Global()
@Module({
  providers: [SecretsService, SecretsRefreshService],
  exports: [SecretsService, SecretsRefreshService],
})
export class SecretsModule {}
