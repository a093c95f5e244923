import { type DynamicModule, Module } from '@nestjs/common';
import { AdminModule } from './admin/admin.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { ChatModule } from './chat/chat.module';
import { HttpPipelineModule } from './common/http-pipeline.module';
import { CookieModule } from './cookies/cookie.module';
import type { KeywardConfig } from './config/configuration';
import { keywardConfigModule } from './config/keyward-config.module';
import { DatabaseModule } from './database/database.module';
import { EmbeddingsModule } from './embeddings/embeddings.module';
import { HealthModule } from './health/health.module';
import { LimitsModule } from './limits/limits.module';
import { MetricsModule } from './metrics/metrics.module';
import { OidcModule } from './oidc/oidc.module';
import { PricingModule } from './pricing/pricing.module';
import { RedisModule } from './redis/redis.module';
import { ResponsesModule } from './responses/responses.module';
import { SecretsModule } from './secrets/secrets.module';
import { RequestLogModule } from './spend/request-log.module';
import { SpendModule } from './spend/spend.module';
import { TeamsModule } from './teams/teams.module';
import { UsersModule } from './users/users.module';

/**
 * Wires the feature modules and the global pipeline. The configuration is loaded before
 * the module is built (`loadConfig`), so start-up errors name their variable and tests can
 * pass their own environment without touching `process.env`.
 */
@Module({})
export class AppModule {
  static forRoot(config: KeywardConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        keywardConfigModule(config),
        HttpPipelineModule,
        DatabaseModule,
        RedisModule,
        AuditModule,
        SecretsModule,
        LimitsModule,
        PricingModule,
        RequestLogModule,
        CookieModule,
        UsersModule,
        TeamsModule,
        AuthModule,
        OidcModule,
        AdminModule,
        ChatModule,
        ResponsesModule,
        EmbeddingsModule,
        HealthModule,
        MetricsModule,
        SpendModule,
      ],
    };
  }
}
