import { Injectable } from '@nestjs/common';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { DomainError } from '../common/domain-error';
import { LimiterFactory } from '../limits/limiter.factory';
import type { Reservation } from '../usage/budget-store';
import { BudgetService } from '../usage/budget.service';
import { UserLimitsService } from '../usage/user-limits.service';
import { secondsUntilUtcMidnight } from '../usage/utc-day';

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
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AdmissionRequest {
  readonly promptCeiling: number;
  readonly requestedMaxTokens?: number;
}

/**
 * docs/reference.md "Chat": per-user requests per minute and hard daily token budgets, checked
 * before any upstream call; refusals are 429 with Retry-After and a `quota.refused` audit event.
 */
@Injectable()
export class ChatLimitsService {
  private readonly requests: RateLimiterAbstract;
  private readonly lastAudit = new Map<string, number>();

  constructor(
    limiters: LimiterFactory,
    private readonly limits: UserLimitsService,
    private readonly budget: BudgetService,
    private readonly audit: AuditService,
  ) {
    // Per-user limits differ, so the counter itself never refuses; `admit` compares.
    this.requests = limiters.create({
      keyPrefix: 'chat_rpm',
      points: Number.MAX_SAFE_INTEGER,
      duration: 60,
    });
  }

  /** Counts the request, then reserves its worst case; the reservation caps `max_tokens`. */
  async admit(principal: Principal, request: AdmissionRequest, ip?: string): Promise<Reservation> {
    const limits = await this.limits.forUser(principal.userId);
    const counted = await this.requests.consume(principal.userId, 1);
    if (counted.consumedPoints > limits.rpm) {
      this.auditRefusal(principal, ip, 'rpm', { limit: limits.rpm });
      throw new DomainError(
        'rate_limited',
        `Too many chat requests: at most ${limits.rpm} a minute.`,
        {
          // The window is a minute: never more than 60 s, and exact to the millisecond.
          retryAfterSeconds: Math.min(60, Math.max(0.001, counted.msBeforeNext / 1000)),
          param: 'user.rpm',
          openAiCode: 'rate_limit_exceeded',
        },
      );
    }
    const result = await this.budget.tryReserve(
      principal.userId,
      limits.dailyTokens,
      request.promptCeiling,
      request.requestedMaxTokens ?? DEFAULT_MAX_COMPLETION_TOKENS,
    );
    if (!result.granted) {
      this.auditRefusal(principal, ip, 'daily_tokens', {
        limit: limits.dailyTokens,
        remaining: result.remaining,
        needed: request.promptCeiling + 1,
      });
      if (result.exhausted) {
        // Spent until midnight: an SDK must raise now, not sleep for hours on Retry-After
        // (kept as information). `insufficient_quota` is what OpenAI SDK users match on.
        throw new DomainError(
          'quota_exceeded',
          `The daily token budget (${limits.dailyTokens}) is used up; it resets at 00:00 UTC.`,
          {
            retryAfterSeconds: secondsUntilUtcMidnight(),
            headers: { 'x-should-retry': 'false' },
            param: 'user.daily_tokens',
            openAiCode: 'insufficient_quota',
          },
        );
      }
      throw new DomainError(
        'quota_exceeded',
        'The daily token budget is held by requests in flight; retry when they finish.',
        {
          retryAfterSeconds: IN_FLIGHT_RETRY_SECONDS,
          param: 'user.daily_tokens',
          openAiCode: 'rate_limit_exceeded',
        },
      );
    }
    return result.reservation;
  }

  private auditRefusal(
    principal: Principal,
    ip: string | undefined,
    limit: string,
    details: Record<string, unknown>,
  ): void {
    const key = `${principal.userId}|${limit}`;
    const now = Date.now();
    if ((this.lastAudit.get(key) ?? 0) > now - AUDIT_EVERY_MS) return;
    if (this.lastAudit.size > 10_000) this.lastAudit.clear();
    this.lastAudit.set(key, now);
    this.audit.recordQuietly('quota.refused', {
      actorId: UUID.test(principal.userId) ? principal.userId : null,
      subject: principal.userId,
      ip,
      details: { limit, ...details },
    });
  }
}
