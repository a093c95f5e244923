import { monthStart } from './policy-usage.repository';

/** Whose budget: a user's (chat_usage), a key's or a team's (policy_usage). */
export type CounterOwner = 'user' | 'key' | 'team';
/** What it counts: tokens (prompt + completion) or money (nano-USD). */
export type CounterUnit = 'tokens' | 'nanos';
export type CounterPeriod = 'day' | 'month';

export interface CounterName {
  readonly owner: CounterOwner;
  readonly unit: CounterUnit;
  readonly period: CounterPeriod;
  /** The UTC day the request is billed to (`YYYY-MM-DD`). */
  readonly day: string;
  readonly id: string;
}

/** Kept past the end of its period: a request in flight at midnight still settles on it. */
export const COUNTER_TTL_SECONDS: Record<CounterPeriod, number> = {
  day: 2 * 86400,
  month: 33 * 86400,
};

/**
 * A counter's key: `owner:unit:period:YYYY-MM-DD|YYYY-MM:id`. The id comes last, so ids with
 * colons (`issuer#sub` of external tokens) parse back unchanged.
 */
export function counterKey(name: CounterName): string {
  const period = name.period === 'day' ? name.day : name.day.slice(0, 7);
  return `${name.owner}:${name.unit}:${name.period}:${period}:${name.id}`;
}

/** The subject of `policy_usage` rows for a key or a team. */
export function usageSubject(owner: 'key' | 'team', id: string): string {
  return `${owner}:${id}`;
}

export interface ParsedCounter {
  readonly owner: CounterOwner;
  readonly unit: CounterUnit;
  /** First and last UTC day the counter covers. */
  readonly fromDay: string;
  readonly toDay: string;
  readonly id: string;
}

export function parseCounterKey(key: string): ParsedCounter {
  const [owner, unit, period, value, ...rest] = key.split(':');
  const id = rest.join(':');
  if (
    !['user', 'key', 'team'].includes(owner) ||
    !['tokens', 'nanos'].includes(unit) ||
    !['day', 'month'].includes(period) ||
    !id
  ) {
    throw new Error(`not a budget counter key: ${JSON.stringify(key)}`);
  }
  const fromDay = period === 'day' ? value : monthStart(`${value}-01`);
  const toDay = period === 'day' ? value : lastDayOfMonth(value);
  return {
    owner: owner as CounterOwner,
    unit: unit as CounterUnit,
    fromDay,
    toDay,
    id,
  };
}

/** `YYYY-MM` → its last day, `YYYY-MM-DD`. */
function lastDayOfMonth(month: string): string {
  const [year, monthNumber] = month.split('-').map(Number);
  return new Date(Date.UTC(year, monthNumber, 0)).toISOString().slice(0, 10);
}
