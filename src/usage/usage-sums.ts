import type { PolicyUsageEntry } from './policy-usage.repository';
import type { UsageSettlement } from './usage-ledger';
import type { UsageEntry } from './usage.repository';

/** A row being summed into: the same fields, writable. */
type Summed<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Settlements waiting for one write, summed per table row: the user's usage per (user, day,
 * model), the key's and team's spend per (subject, day). Both usage ledgers batch through it,
 * so a batch is one upsert per row whichever ledger writes it.
 */
export class UsageSums {
  readonly usage = new Map<string, { entry: Summed<UsageEntry>; requests: number }>();
  readonly policy = new Map<string, { entry: Summed<PolicyUsageEntry>; requests: number }>();
  /** How many settlements (or journal records) are in the sums. */
  records = 0;

  add(settlement: UsageSettlement, requests = 1): void {
    this.addUsage(settlement.usage, requests);
    for (const item of settlement.policy) this.addPolicy(item, requests);
    this.records += 1;
  }

  /** Adds `other` (sums that could not be written, or what came since) into these. */
  merge(other: UsageSums): void {
    for (const { entry, requests } of other.usage.values()) this.addUsage(entry, requests);
    for (const { entry, requests } of other.policy.values()) this.addPolicy(entry, requests);
    this.records += other.records;
  }

  private addUsage(usage: UsageEntry, requests: number): void {
    const key = `${usage.userId}\u0000${usage.day}\u0000${usage.model}`;
    const row = this.usage.get(key);
    if (!row) {
      this.usage.set(key, { entry: { ...usage }, requests });
      return;
    }
    row.entry.promptTokens += usage.promptTokens;
    row.entry.completionTokens += usage.completionTokens;
    row.entry.cachedTokens += usage.cachedTokens;
    row.entry.reasoningTokens += usage.reasoningTokens;
    row.entry.costNanos += usage.costNanos;
    row.requests += requests;
  }

  private addPolicy(item: PolicyUsageEntry, requests: number): void {
    const key = `${item.subject}\u0000${item.day}`;
    const row = this.policy.get(key);
    if (!row) this.policy.set(key, { entry: { ...item }, requests });
    else {
      row.entry.tokens += item.tokens;
      row.entry.costNanos += item.costNanos;
      row.requests += requests;
    }
  }
}
