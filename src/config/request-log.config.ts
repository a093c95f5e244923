import { z } from 'zod';
import { integer, optionalString } from './schema-helpers';

/**
 * Patterns always redacted from logged content (docs/request-log.md): e-mail addresses,
 * OpenAI-style (`sk-…`) and Keyward (`kw_…`) API keys, and card-like numbers (13–19 digits,
 * spaces or dashes allowed between them).
 */
export const DEFAULT_REDACT_PATTERNS: readonly string[] = [
  String.raw`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`,
  String.raw`\bsk-[A-Za-z0-9_-]{8,}`,
  String.raw`\bkw_[A-Za-z0-9_-]{8,}`,
  String.raw`\b(?:\d[ -]?){12,18}\d\b`,
];

function redactPatterns(json: string | undefined, ctx: z.RefinementCtx): RegExp[] {
  const sources = [...DEFAULT_REDACT_PATTERNS];
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      ctx.addIssue({ code: 'custom', path: ['REQUEST_LOG_REDACT'], message: 'is not valid JSON' });
      return z.NEVER;
    }
    if (
      !Array.isArray(parsed) ||
      parsed.length > 100 ||
      !parsed.every((item) => typeof item === 'string' && item.length > 0 && item.length <= 1000)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['REQUEST_LOG_REDACT'],
        message: 'must be a JSON array of at most 100 regular expressions (strings)',
      });
      return z.NEVER;
    }
    sources.push(...(parsed as string[]));
  }
  const patterns: RegExp[] = [];
  for (const [index, source] of sources.entries()) {
    try {
      patterns.push(new RegExp(source, 'gu'));
    } catch {
      ctx.addIssue({
        code: 'custom',
        path: ['REQUEST_LOG_REDACT'],
        message: `entry ${index - DEFAULT_REDACT_PATTERNS.length} is not a valid regular expression`,
      });
      return z.NEVER;
    }
  }
  return patterns;
}

/**
 * The buffer must hold a whole batch: a smaller one could never fill the batch that triggers a
 * write, so it is refused at start (docs/request-log.md), not quietly raised.
 */
function maxBuffer(buffer: number, batch: number, ctx: z.RefinementCtx): number {
  if (buffer < batch) {
    ctx.addIssue({
      code: 'custom',
      path: ['REQUEST_LOG_MAX_BUFFER'],
      message: `must be at least REQUEST_LOG_BATCH_ROWS (${batch})`,
    });
    return z.NEVER;
  }
  return buffer;
}

/**
 * The request log (docs/request-log.md): retention of rows and of their content, redaction,
 * and the batching of writes. METRICS_MAX_TEAMS bounds the team label of the spend metrics.
 */
export const requestLogConfigSchema = z
  .object({
    REQUEST_LOG_DAYS: integer(30, 1, 3660),
    REQUEST_LOG_CONTENT_DAYS: integer(7, 1, 3660),
    REQUEST_LOG_REDACT: optionalString(),
    REQUEST_LOG_FLUSH_MS: integer(250, 10, 60_000),
    REQUEST_LOG_BATCH_ROWS: integer(500, 1, 5000),
    REQUEST_LOG_MAX_BUFFER: integer(20_000, 1, 1_000_000),
    METRICS_MAX_TEAMS: integer(50, 0, 10_000),
  })
  .transform((env, ctx) => ({
    days: env.REQUEST_LOG_DAYS,
    contentDays: Math.min(env.REQUEST_LOG_CONTENT_DAYS, env.REQUEST_LOG_DAYS),
    redact: redactPatterns(env.REQUEST_LOG_REDACT, ctx),
    flushMs: env.REQUEST_LOG_FLUSH_MS,
    batchRows: env.REQUEST_LOG_BATCH_ROWS,
    maxBuffer: maxBuffer(env.REQUEST_LOG_MAX_BUFFER, env.REQUEST_LOG_BATCH_ROWS, ctx),
    metricsMaxTeams: env.METRICS_MAX_TEAMS,
  }));
export type RequestLogConfig = z.output<typeof requestLogConfigSchema>;
