import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { KeywardConfig } from '../config/configuration';
import { DatabaseService } from '../database/database.service';
import { RedisService } from '../redis/redis.service';
import { UsersModule } from '../users/users.module';
import { AdminUsageController } from './admin-usage.controller';
import { parseCounterKey, usageSubject } from './budget-counters';
import { BUDGET_STORE } from './budget-store';
import { BudgetService } from './budget.service';
import { DirectUsageLedger } from './direct-usage.ledger';
import { journalUsageLedger } from './journal-usage.ledger';
import { PolicyUsageRepository } from './policy-usage.repository';
import { MemoryBudgetStore } from './memory-budget.store';
import { RedisBudgetStore } from './redis-budget.store';
import { USAGE_LEDGER, type UsageLedger } from './usage-ledger';
import { UsageController } from './usage.controller';
import { UsageRepository } from './usage.repository';
import { UsageService } from './usage.service';
import { UserLimitsService } from './user-limits.service';

/**
 * What a budget counter already counted, from the usage tables: a user's day from
 * `chat_usage`, a key's or team's day or month from `policy_usage`.
 */
async function loadCounter(
  key: string,
  usage: UsageRepository,
  policyUsage: PolicyUsageRepository,
): Promise<number> {
  const counter = parseCounterKey(key);
  if (counter.owner === 'user') {
    if (counter.unit !== 'tokens' || counter.fromDay !== counter.toDay)
      throw new Error(`no usage table for budget counter ${key}`);
    return usage.dayTotal(counter.id, counter.fromDay);
  }
  const total = await policyUsage.total(
    usageSubject(counter.owner, counter.id),
    counter.fromDay,
    counter.toDay,
  );
  return counter.unit === 'tokens' ? total.tokens : total.costNanos;
}

/**
 * Token usage: the usage table, hard daily budgets and the usage reports. The budget store
 * is in-process, or in Redis (one Lua check-and-reserve) when REDIS_URL is set.
 */
@Module({
  imports: [UsersModule],
  controllers: [UsageController, AdminUsageController],
  providers: [
    UsageRepository,
    PolicyUsageRepository,
    UsageService,
    UserLimitsService,
    BudgetService,
    {
      // One ledger per database kind (docs/database.md "Usage writes"); its lifecycle hooks
      // replay the journal at start and apply it at shutdown.
      provide: USAGE_LEDGER,
      inject: [DatabaseService, UsageRepository, PolicyUsageRepository, ConfigService],
      useFactory: (
        database: DatabaseService,
        usage: UsageRepository,
        policyUsage: PolicyUsageRepository,
        config: ConfigService<KeywardConfig, true>,
      ): UsageLedger => {
        const { url, dataDir, journalApplyMs } = config.get('database', { infer: true });
        if (url) return new DirectUsageLedger(usage, policyUsage);
        return journalUsageLedger(dataDir, database, usage, policyUsage, journalApplyMs);
      },
    },
    {
      provide: BUDGET_STORE,
      inject: [UsageRepository, PolicyUsageRepository, USAGE_LEDGER, RedisService, ConfigService],
      useFactory: (
        usage: UsageRepository,
        policyUsage: PolicyUsageRepository,
        ledger: UsageLedger,
        redis: RedisService,
        config: ConfigService<KeywardConfig, true>,
      ) => {
        // A counter starts from the tables: what this instance recorded is put in them first.
        const load = async (key: string) => {
          await ledger.flush();
          return loadCounter(key, usage, policyUsage);
        };
        // Several instances share one budget through Redis; without Redis, one process counts.
        return redis.client
          ? new RedisBudgetStore(
              redis.client,
              redis.keyPrefix,
              load,
              config.get('chat', { infer: true }).upstreamTimeoutMs + 60_000,
            )
          : new MemoryBudgetStore(load);
      },
    },
  ],
  exports: [BudgetService, UserLimitsService, PolicyUsageRepository],
})
export class UsageModule {}
