import type { LoggerService } from '@nestjs/common';
import pino, { type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';

/** Query parameters whose values never reach a log line. */
const SENSITIVE_QUERY =
  /([?&](?:access_token|refresh_token|token|api_key|key|password|code|client_secret)=)[^&]*/gi;

/**
 * Paths pino removes from every log object. Fastify's request serializer logs no headers,
 * but these also cover anything a handler logs by hand.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.client_secret',
  '*.clientSecret',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.apiKey',
  '*.key',
  '*.secret',
  'password',
  'token',
  'apiKey',
];

export function redactUrl(url: string): string {
  // Most URLs have no query string: no regex run for them (one per access line).
  return url.includes('?') ? url.replace(SENSITIVE_QUERY, '$1[redacted]') : url;
}

let stampSecond = Number.NaN;
let stampPrefix = '';

/**
 * pino's `isoTime` (`,"time":"2026-11-30T17:03:12.372Z"`, the same text), with the part up to
 * the seconds formatted once per second instead of a `Date` and `toISOString()` per line:
 * that was about a quarter of the access line's cost.
 */
export function isoTime(): string {
  const now = Date.now();
  const millis = now % 1000;
  const second = now - millis;
  if (second !== stampSecond) {
    stampSecond = second;
    // "2026-11-30T17:03:12." (20 characters) for every millisecond of that second.
    stampPrefix = `,"time":"${new Date(second).toISOString().slice(0, 20)}`;
  }
  return `${stampPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z"`;
}

const CHINDINGS = pino.symbols.chindingsSym;

/**
 * Fastify's `childLoggerFactory`: the request's logger (`request.log`), the parent's with
 * `reqId` bound. pino's `child()` runs each binding through the wildcard redaction
 * (`*.password`...), which costs about as much as writing a line even for a plain string; the
 * request id is one (a UUID or an `X-Request-Id` that passed `REQUEST_ID` in http-app.ts), so
 * its JSON is appended to the child's bindings as `child()` would have written it
 * (`pino.symbols` is pino's interface for this kind of integration). A route with its own log
 * level or serializers, or any other binding, goes through pino's `child()`.
 */
export function requestLogger(
  logger: Logger,
  bindings: Record<string, unknown>,
  options: ChildLoggerOptions = {},
): Logger {
  // A route's own level or serializers (Fastify's `logLevel`, `logSerializers`): pino's way.
  if (Object.keys(options).length > 0) return logger.child(bindings, options);
  for (const key in bindings) if (key !== 'reqId') return logger.child(bindings);
  const child = logger.child({});
  const holder = child as unknown as Record<symbol, string>;
  holder[CHINDINGS] += `,"reqId":${JSON.stringify(String(bindings.reqId))}`;
  return child;
}

/** The `params: ...` line Drizzle puts in a failed query's message (and so its stack). */
const QUERY_PARAMS_LINE = /^params: .*$/gm;

/**
 * A failed query's error carries its parameters (Drizzle's `DrizzleQueryError`: `params`
 * and a `params: ...` line in message and stack): password and token hashes, usernames.
 * Path-based redaction cannot see inside strings, so they are cut here, causes included.
 */
export function scrubQueryParams(text: string): string {
  return text.replace(QUERY_PARAMS_LINE, 'params: [redacted]');
}

function serializeError(error: Error): Record<string, unknown> {
  const scrub = (value: unknown, depth: number): void => {
    if (!value || typeof value !== 'object' || depth > 5) return;
    const entry = value as Record<string, unknown>;
    if ('params' in entry) entry.params = '[redacted]';
    if (typeof entry.message === 'string') entry.message = scrubQueryParams(entry.message);
    if (typeof entry.stack === 'string') entry.stack = scrubQueryParams(entry.stack);
    scrub(entry.cause, depth + 1);
  };
  const serialized = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  scrub(serialized, 0);
  return serialized;
}

const SERIALIZERS = {
  req: (req: { method?: string; url?: string; ip?: string; id?: string }) => ({
    method: req.method,
    url: req.url ? redactUrl(req.url) : undefined,
    remoteAddress: req.ip,
  }),
  res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
  err: serializeError,
};

/**
 * Standard output for the server's logs, written asynchronously: a line is queued and
 * written by the next `write` when none is in flight, so under load many lines go out in
 * one system call instead of one blocking `write` each (issue 17's profile: the per-request
 * access line's synchronous write was ~6% of a proxied chat call's CPU). No timer and no
 * size threshold: an idle server's line is written at once. pino flushes what is queued
 * synchronously when the process exits (its `on-exit` hook), so the last lines of a
 * shutdown or a crash are not lost.
 */
export function stdoutDestination(): DestinationStream {
  return pino.destination({ dest: 1, sync: false });
}

/**
 * One pino logger for Fastify's request logs and Nest's own messages. JSON encoding
 * escapes control characters in user input (`\n` becomes `\\n`), so a crafted username
 * cannot forge a log line.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'keyward' },
      timestamp: isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: SERIALIZERS,
    },
    destination,
  );
}

/**
 * The logger for the one access line per request, on the same destination and level as
 * `logger`. Without `redact`: every field of that line comes from the serializers above or
 * is a number or id (see `AccessLogController`), so there is nothing to redact, and pino's
 * wildcard redaction (`*.password` ...) cost ~10 µs a line, 60% of writing it (measured
 * with 200k lines to /dev/null), paid on every request.
 */
export function createAccessLogger(logger: Logger): Logger {
  return pino(
    {
      level: logger.level,
      base: { service: 'keyward' },
      timestamp: isoTime,
      serializers: SERIALIZERS,
    },
    (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym],
  );
}

/**
 * Nest's LoggerService on top of the same pino instance. nestjs-pino does this through
 * pino-http middleware, which would log every request a second time next to Fastify's
 * own request logging; these few lines keep one logger and one request log.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error(
      { context, trace: trace === undefined ? undefined : scrubQueryParams(trace) },
      scrubQueryParams(String(message)),
    );
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
  fatal(message: unknown, context?: string): void {
    this.logger.fatal({ context }, String(message));
  }
}
