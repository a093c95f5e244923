import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
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
    // Settlements still waiting to share a write are written first: a report includes them.
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
    const totals = items.reduce(
      (sum, item) => ({
        promptTokens: sum.promptTokens + item.promptTokens,
        completionTokens: sum.completionTokens + item.completionTokens,
        totalTokens: sum.totalTokens + item.totalTokens,
        requests: sum.requests + item.requests,
      }),
      { promptTokens: 0, completionTokens: 0, totalTokens: 0, requests: 0 },
    );
    return { since, until: utcDay(), items, totals };
  }
}

function toItem(row: UsageRow, withUser: boolean): UsageItemDto {
  return {
    ...(withUser ? { userId: row.userId } : {}),
    day: row.day,
    model: row.model,
    promptTokens: row.promptTokens,
    completionTokens: row.completionTokens,
    totalTokens: row.promptTokens + row.completionTokens,
    requests: row.requests,
  };
}
