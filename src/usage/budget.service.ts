import { Inject, Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BUDGET_STORE,
  type BudgetStore,
  type Reservation,
  type ReserveResult,
} from './budget-store';
import { UsageRepository } from './usage.repository';
import { utcDay } from './utc-day';

export interface TokenUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

const PERSIST_ATTEMPTS = 3;

/**
 * Hard daily token budgets (SPEC "Chat"): reserve the worst case before the upstream call,
 * settle to the real usage after it. Settlement writes the usage row first (the record of
 * what was spent), then releases the reservation, so a budget never looks larger than it is.
 */
@Injectable()
export class BudgetService {
  private readonly logger = new Logger(BudgetService.name);

  constructor(
    @Inject(BUDGET_STORE) private readonly store: BudgetStore,
    private readonly usage: UsageRepository,
  ) {}

  tryReserve(
    userId: string,
    limit: number,
    promptTokens: number,
    maxCompletionTokens: number,
  ): Promise<ReserveResult> {
    return this.store.reserve({ userId, day: utcDay(), limit, promptTokens, maxCompletionTokens });
  }

  /** Bills a finished request (any outcome) and frees its reservation. Never throws. */
  async settle(reservation: Reservation, model: string, used: TokenUsage): Promise<void> {
    const promptTokens = Math.max(0, Math.round(used.promptTokens));
    const completionTokens = Math.max(0, Math.round(used.completionTokens));
    await this.persist({
      userId: reservation.userId,
      day: reservation.day,
      model,
      promptTokens,
      completionTokens,
    });
    await this.store
      .settle(reservation, promptTokens + completionTokens)
      .catch((error: unknown) => {
        this.logger.error(`budget settle failed: ${(error as Error).message}`);
      });
  }

  private async persist(entry: Parameters<UsageRepository['add']>[0]): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.usage.add(entry);
        return;
      } catch (error) {
        if (attempt >= PERSIST_ATTEMPTS) {
          // The in-process counter still holds the tokens, so the budget stays hard here;
          // the line carries what is needed to reconcile the table by hand.
          this.logger.error(
            `usage not recorded after ${attempt} attempts: ${JSON.stringify({ ...entry, error: (error as Error).message })}`,
          );
          return;
        }
        await sleep(50 * attempt);
      }
    }
  }
}
