import { Injectable } from '@nestjs/common';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { AuditService } from '../audit/audit.service';
import { isLocalUser, type Principal } from '../auth/principal';
import { DomainError } from '../common/domain-error';
import { LimiterFactory } from '../limits/limiter.factory';
import { hasUsdBudget, type PolicyLimits } from '../policy/policy-limits';
import { PricingService, usdFromNanos } from '../pricing/pricing.service';
import { type TeamPolicy, TeamsService } from '../teams/teams.service';
import {
  COUNTER_TTL_SECONDS,
  counterKey,
  type CounterPeriod,
  type CounterUnit,
} from '../usage/budget-counters';
import type { Reservation } from '../usage/budget-store';
import { BudgetService, type UnitCounter, userDailyTokens } from '../usage/budget.service';
import { UserLimitsService } from '../usage/user-limits.service';
import { secondsUntilUtcMidnight, utcDay } from '../usage/utc-day';

/**
 * The completion cap when the client sets none. A budget is only hard if every call has a
 * cap, so one is always sent; this is the output limit of the gpt-4o family (larger caps
 * are passed through when a client asks, clamped to the remaining budget).
 */
export const DEFAULT_MAX_COMPLETION_TOKENS = 16_384;
/** Refused because of requests in flight, not spent tokens: soon worth a retry. */
const IN_FLIGHT_RETRY_SECONDS = 5;
/** One audit row per user and kind of refusal a minute: a flood must not flood the log. */
const AUDIT_EVERY_MS = 60_000;

export interface AdmissionRequest {
  readonly model: string;
  readonly promptCeiling: number;
  readonly requestedMaxTokens?: number;
}

type Level = 'key' | 'team' | 'user';

/** One budget counter of a call, with whose it is (what a refusal says about it). */
interface Budget {
  readonly counter: UnitCounter;
  readonly level: Level;
  readonly period: CounterPeriod;
}

const LEVEL_NAMES: Record<Level, string> = { key: 'API key', team: 'team', user: 'user' };

/**
 * docs/policy.md: every limit that applies to a call — the API key's, the team's (a team key's
 * calls belong to its team) and the user's — checked before any upstream call. Model
 * allowlists (key, team) narrow the server's; requests per minute are counted per key, team
 * and user; token and USD budgets (daily, monthly) are reserved together, atomically and all
 * or nothing, in the budget store, and the completion cap sent upstream is what every one of
 * them allows. The tightest limit refuses and the error's `param` names it. Refusals are 429
 * with Retry-After and a `quota.refused` audit event.
 */
@Injectable()
export class ChatLimitsService {
  private readonly requests: Record<Level, RateLimiterAbstract>;
  private readonly lastAudit = new Map<string, number>();

  constructor(
    limiters: LimiterFactory,
    private readonly limits: UserLimitsService,
    private readonly budget: BudgetService,
    private readonly audit: AuditService,
    private readonly teams: TeamsService,
    private readonly pricing: PricingService,
  ) {
    // Limits differ per user, key and team, so the counters never refuse; `admit` compares.
    const counter = (keyPrefix: string) =>
      limiters.create({ keyPrefix, points: Number.MAX_SAFE_INTEGER, duration: 60 });
    this.requests = {
      user: counter('chat_rpm'),
      key: counter('chat_rpm_key'),
      team: counter('chat_rpm_team'),
    };
  }

  /** Checks models and rates, then reserves the worst case on every budget; caps `max_tokens`. */
  async admit(principal: Principal, request: AdmissionRequest, ip?: string): Promise<Reservation> {
    const key = principal.apiKeyId ? principal.keyPolicy : undefined;
    const [userLimits, team] = await Promise.all([
      this.limits.forPrincipal(principal),
      principal.teamId ? this.teams.policy(principal.teamId) : Promise.resolve(null),
    ]);
    const refusal = this.modelRefusal(request.model, key, team);
    if (refusal) throw refusal;
    await this.countRequest(principal, ip, [
      ['key', principal.apiKeyId, key?.rpm ?? null],
      ['team', team?.id, team?.rpm ?? null],
      ['user', principal.userId, userLimits.rpm],
    ]);

    const day = utcDay();
    const budgets: Budget[] = [
      ...(key && principal.apiKeyId
        ? this.budgetsOf('key', principal.apiKeyId, key, request, day)
        : []),
      ...(team ? this.budgetsOf('team', team.id, team, request, day) : []),
      {
        counter: userDailyTokens(
          principal.userId,
          day,
          userLimits.dailyTokens,
          request.promptCeiling,
        ),
        level: 'user',
        period: 'day',
      },
    ];
    const result = await this.budget.reserve(
      { userId: principal.userId, apiKeyId: principal.apiKeyId, teamId: team?.id },
      day,
      budgets.map((b) => b.counter),
      request.requestedMaxTokens ?? DEFAULT_MAX_COMPLETION_TOKENS,
    );
    if (result.granted) return result.reservation;

    const refused = budgets[result.counter];
    const param = budgetParam(refused);
    this.auditRefusal(principal, ip, param, {
      limit: refused.counter.limit,
      remaining: result.remaining,
      needed: refused.counter.base + refused.counter.perToken,
    });
    if (result.exhausted) {
      // Spent until the period ends: an SDK must raise now, not sleep for hours on
      // Retry-After (kept as information). `insufficient_quota` is what OpenAI SDK users match on.
      throw new DomainError(
        'quota_exceeded',
        `The ${budgetLabel(refused)} is used up; it resets at 00:00 UTC${refused.period === 'month' ? ' on the 1st of next month' : ''}.`,
        {
          retryAfterSeconds: secondsUntilReset(refused.period),
          headers: { 'x-should-retry': 'false' },
          param,
          openAiCode: 'insufficient_quota',
        },
      );
    }
    throw new DomainError(
      'quota_exceeded',
      `The ${budgetLabel(refused)} is held by requests in flight; retry when they finish.`,
      {
        retryAfterSeconds: IN_FLIGHT_RETRY_SECONDS,
        param,
        openAiCode: 'rate_limit_exceeded',
      },
    );
  }

  /**
   * The server's models (`offered`) this principal may call: exactly those `admit` would not
   * refuse on the model alone, so `GET /v1/models` lists what a key or team may use.
   */
  async callableModels(principal: Principal, offered: readonly string[]): Promise<string[]> {
    const key = principal.apiKeyId ? principal.keyPolicy : undefined;
    const team = principal.teamId ? await this.teams.policy(principal.teamId) : null;
    return offered.filter((model) => this.modelRefusal(model, key, team) === undefined);
  }

  /**
   * docs/policy.md "Which limit wins", step 1 (the server's own list is checked by the
   * sanitizer): the key's and the team's allowlists narrow it, and a key or team with a USD
   * budget may only call priced models. Undefined: the model may be called.
   */
  private modelRefusal(
    model: string,
    key: PolicyLimits | undefined,
    team: TeamPolicy | null,
  ): DomainError | undefined {
    const notAllowed =
      key?.models && !key.models.includes(model)
        ? { whose: 'API key', models: key.models }
        : team?.models && !team.models.includes(model)
          ? { whose: `team ${JSON.stringify(team.name)}`, models: team.models }
          : undefined;
    if (notAllowed) {
      return new DomainError(
        'validation_failed',
        `The model '${model}' is not allowed for this ${notAllowed.whose}; allowed: ${notAllowed.models.join(', ') || 'none'}.`,
        {
          param: 'model',
          openAiCode: 'model_not_found',
          errors: [{ field: 'model', message: `not allowed for this ${notAllowed.whose}` }],
        },
      );
    }
    const usdBudget =
      key && hasUsdBudget(key) ? 'API key' : team && hasUsdBudget(team) ? 'team' : '';
    if (usdBudget && !this.pricing.isPriced(model)) {
      return new DomainError(
        'validation_failed',
        `The model '${model}' has no price, and this ${usdBudget} has a USD budget: it may only call priced models.`,
        {
          param: 'model',
          openAiCode: 'model_not_priced',
          errors: [{ field: 'model', message: 'has no price (PRICES_FILE)' }],
        },
      );
    }
    return undefined;
  }

  /**
   * Counts the request on every rate that applies, then refuses if any is over its limit
   * (the smallest limit of those over). Every counter counts the request, refused or not:
   * a client hammering past its limit stays refused.
   */
  private async countRequest(
    principal: Principal,
    ip: string | undefined,
    rates: Array<[Level, string | undefined, number | null]>,
  ): Promise<void> {
    const applicable = rates.filter(
      (rate): rate is [Level, string, number] => rate[1] !== undefined && rate[2] !== null,
    );
    const counted = await Promise.all(
      applicable.map(([level, id]) => this.requests[level].consume(id, 1)),
    );
    let refused: { level: Level; limit: number; msBeforeNext: number } | undefined;
    applicable.forEach(([level, , limit], index) => {
      if (counted[index].consumedPoints > limit && (!refused || limit < refused.limit))
        refused = { level, limit, msBeforeNext: counted[index].msBeforeNext };
    });
    if (!refused) return;
    this.auditRefusal(principal, ip, `${refused.level}.rpm`, { limit: refused.limit });
    throw new DomainError(
      'rate_limited',
      `Too many chat requests: this ${LEVEL_NAMES[refused.level]} allows at most ${refused.limit} a minute.`,
      {
        // The window is a minute: never more than 60 s, and exact to the millisecond.
        retryAfterSeconds: Math.min(60, Math.max(0.001, refused.msBeforeNext / 1000)),
        param: `${refused.level}.rpm`,
        openAiCode: 'rate_limit_exceeded',
      },
    );
  }

  /** The token and USD budgets a key or team sets (null limits set none). */
  private budgetsOf(
    level: 'key' | 'team',
    id: string,
    policy: PolicyLimits,
    request: AdmissionRequest,
    day: string,
  ): Budget[] {
    const budgets: Budget[] = [];
    const add = (unit: CounterUnit, period: CounterPeriod, limit: number | null) => {
      if (limit === null) return;
      const usd = unit === 'nanos';
      budgets.push({
        counter: {
          key: counterKey({ owner: level, unit, period, day, id }),
          unit,
          limit,
          // Tokens: the prompt ceiling plus one per completion token. USD: the prompt's
          // worst case (all uncached) plus the output price per completion token, so the
          // grant is PricingService.completionTokensWithin of what is left.
          base: usd
            ? this.pricing.worstCaseNanos(request.model, request.promptCeiling, 0)
            : request.promptCeiling,
          perToken: usd ? this.pricing.worstCaseNanos(request.model, 0, 1) : 1,
          ttlSeconds: COUNTER_TTL_SECONDS[period],
        },
        level,
        period,
      });
    };
    add('tokens', 'day', policy.dailyTokens);
    add('tokens', 'month', policy.monthlyTokens);
    add('nanos', 'day', policy.dailyNanos);
    add('nanos', 'month', policy.monthlyNanos);
    return budgets;
  }

  private auditRefusal(
    principal: Principal,
    ip: string | undefined,
    limit: string,
    details: Record<string, unknown>,
  ): void {
    const key = `${principal.userId}|${principal.apiKeyId ?? ''}|${limit}`;
    const now = Date.now();
    if ((this.lastAudit.get(key) ?? 0) > now - AUDIT_EVERY_MS) return;
    if (this.lastAudit.size > 10_000) this.lastAudit.clear();
    this.lastAudit.set(key, now);
    this.audit.recordQuietly('quota.refused', {
      actorId: isLocalUser(principal) ? principal.userId : null,
      subject: principal.userId,
      ip,
      details: {
        limit,
        ...(principal.apiKeyId ? { keyId: principal.apiKeyId } : {}),
        ...(principal.teamId ? { teamId: principal.teamId } : {}),
        ...details,
      },
    });
  }
}

/** `key.daily_usd`, `user.daily_tokens`, ...: the refusal's `param`. */
function budgetParam({ level, period, counter }: Budget): string {
  return `${level}.${period === 'day' ? 'daily' : 'monthly'}_${counter.unit === 'nanos' ? 'usd' : 'tokens'}`;
}

/** For messages: "API key's daily USD budget ($5)"; the user's is "daily token budget (N)". */
function budgetLabel({ level, period, counter }: Budget): string {
  if (level === 'user') return `daily token budget (${counter.limit})`;
  const usd = counter.unit === 'nanos';
  return `${LEVEL_NAMES[level]}'s ${period === 'day' ? 'daily' : 'monthly'} ${usd ? 'USD' : 'token'} budget (${usd ? `$${usdFromNanos(counter.limit)}` : counter.limit})`;
}

/** Until the period's budget resets (00:00 UTC; for a month, on the 1st). */
function secondsUntilReset(period: CounterPeriod, at: Date = new Date()): number {
  if (period === 'day') return secondsUntilUtcMidnight(at);
  const next = Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1);
  return Math.max(1, Math.ceil((next - at.getTime()) / 1000));
}
