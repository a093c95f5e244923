/** Today's day and when it ends, so the hot path does not format a date per request. */
let today = { day: '', endsAt: 0 };

/** Budgets and usage are kept per UTC calendar day: `YYYY-MM-DD`. */
export function utcDay(at?: Date): string {
  if (at) return at.toISOString().slice(0, 10);
  const now = Date.now();
  if (now >= today.endsAt || now < today.endsAt - 86_400_000) {
    const date = new Date(now);
    today = {
      day: date.toISOString().slice(0, 10),
      endsAt: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1),
    };
  }
  return today.day;
}

/** The UTC day `days` before `at` (0 is today). */
export function utcDayBefore(days: number, at: Date = new Date()): string {
  return utcDay(new Date(at.getTime() - days * 86_400_000));
}

/** Until the next budget reset (00:00 UTC), at least one second. */
export function secondsUntilUtcMidnight(at: Date = new Date()): number {
  const midnight = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1);
  return Math.max(1, Math.ceil((midnight - at.getTime()) / 1000));
}
