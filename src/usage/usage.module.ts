import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { KeywardConfig } from '../config/configuration';
import { RedisService } from '../redis/redis.service';
import { UsersModule } from '../users/users.module';
import { AdminUsageController } from './admin-usage.controller';
import { parseCounterKey, usageSubject } from './budget-counters';
import { BUDGET_STORE } from './budget-store';
import { BudgetService } from './budget.service';
import { PolicyUsageRepository } from './policy-usage.repository';
import { MemoryBudgetStore } from './memory-budget.store';
import { RedisBudgetStore } from './redis-budget.store';
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
      provide: BUDGET_STORE,
      inject: [UsageRepository, PolicyUsageRepository, RedisService, ConfigService],
      useFactory: (
        usage: UsageRepository,
        policyUsage: PolicyUsageRepository,
        redis: RedisService,
        config: ConfigService<KeywardConfig, true>,
      ) => {
        const load = (key: string) => loadCounter(key, usage, policyUsage);
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
