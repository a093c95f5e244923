import { Module } from '@nestjs/common';
import { UsersModule } from '../users/users.module';
import { AdminUsageController } from './admin-usage.controller';
import { BUDGET_STORE } from './budget-store';
import { BudgetService } from './budget.service';
import { MemoryBudgetStore } from './memory-budget.store';
import { UsageController } from './usage.controller';
import { UsageRepository } from './usage.repository';
import { UsageService } from './usage.service';
import { UserLimitsService } from './user-limits.service';

/**
 * Token usage: the usage table, hard daily budgets and the usage reports. The budget store
 * is in-process; with REDIS_URL (scale-out) a Redis store takes the BUDGET_STORE token.
 */
@Module({
  imports: [UsersModule],
  controllers: [UsageController, AdminUsageController],
  providers: [
    UsageRepository,
    UsageService,
    UserLimitsService,
    BudgetService,
    {
      provide: BUDGET_STORE,
      inject: [UsageRepository],
      useFactory: (usage: UsageRepository) =>
        new MemoryBudgetStore((userId, day) => usage.dayTotal(userId, day)),
    },
  ],
  exports: [BudgetService, UserLimitsService],
})
export class UsageModule {}
