import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { usdFromNanos } from '../pricing/pricing.service';
import type { UsageItemDto, UsageReportDto } from './dto/usage.dto';
import { BudgetService } from './budget.service';
import { UsageRepository, type UsageRow } from './usage.repository';
import { UserLimitsService } from './user-limits.service';
import { utcDay, utcDayBefore } from './utc-day';

export const DEFAULT_USAGE_DAYS = 30;

/** Usage reports: by UTC day and model, for one user or (admins) everyone. */
@Injectable()
export class UsageService {
  constructor(
    private readonly repository: UsageRepository,
    private readonly limits: UserLimitsService,
    private readonly budget: BudgetService,
  ) {}

  async own(
    principal: Pick<Principal, 'userId' | 'authMethod'>,
    days = DEFAULT_USAGE_DAYS,
  ): Promise<UsageReportDto> {
    // Settlements not yet in the tables (journal, shared write) are put there first: a report
    // includes them.
    await this.budget.flush();
    const [report, limits] = await Promise.all([
      this.report(days, principal.userId, false),
      this.limits.forPrincipal(principal),
    ]);
    // The report always covers today (days ≥ 1): its rows hold today's total already.
    const usedToday = report.items
      .filter((item) => item.day === report.until)
      .reduce((sum, item) => sum + item.totalTokens, 0);
    return {
      ...report,
      limits: { requestsPerMinute: limits.rpm, dailyTokens: limits.dailyTokens, usedToday },
    };
  }

  async all(days = DEFAULT_USAGE_DAYS, userId?: string): Promise<UsageReportDto> {
    await this.budget.flush();
    return this.report(days, userId, true);
  }

  private async report(
    days: number,
    userId: string | undefined,
    withUser: boolean,
  ): Promise<UsageReportDto> {
    const since = utcDayBefore(days - 1);
    const rows = await this.repository.listSince(since, userId);
    const items = rows.map((row) => toItem(row, withUser));
    const sums = rows.reduce(
      (sum, row) => ({
        promptTokens: sum.promptTokens + row.promptTokens,
        cachedTokens: sum.cachedTokens + row.cachedTokens,
        completionTokens: sum.completionTokens + row.completionTokens,
        reasoningTokens: sum.reasoningTokens + row.reasoningTokens,
        requests: sum.requests + row.requests,
        // Summed in nano-USD (exact integers), converted once.
        costNanos: sum.costNanos + row.costNanos,
      }),
      {
        promptTokens: 0,
        cachedTokens: 0,
        completionTokens: 0,
        reasoningTokens: 0,
        requests: 0,
        costNanos: 0,
      },
    );
    const totals = {
      promptTokens: sums.promptTokens,
      cachedTokens: sums.cachedTokens,
      completionTokens: sums.completionTokens,
      reasoningTokens: sums.reasoningTokens,
      totalTokens: sums.promptTokens + sums.completionTokens,
      requests: sums.requests,
      costUsd: usdFromNanos(sums.costNanos),
    };
    return { since, until: utcDay(), items, totals };
  }
}

function toItem(row: UsageRow, withUser: boolean): UsageItemDto {
  return {
    ...(withUser ? { userId: row.userId } : {}),
    day: row.day,
    model: row.model,
    promptTokens: row.promptTokens,
    cachedTokens: row.cachedTokens,
    completionTokens: row.completionTokens,
    reasoningTokens: row.reasoningTokens,
    totalTokens: row.promptTokens + row.completionTokens,
    requests: row.requests,
    costUsd: usdFromNanos(row.costNanos),
  };
}
