const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/**
 * Parses the duration format used by every `*_TTL` variable (docs/reference.md "Wire details"):
 * `30s`, `10m`, `24h`, `14d`, or plain seconds. Returns whole seconds.
 */
export function parseDuration(value: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(value.trim());
  if (!match) {
    throw new Error(`"${value}" is not a duration (use 30s, 10m, 24h, 14d or plain seconds)`);
  }
  const amount = Number(match[1]);
  const unit = (match[2] || 's') as keyof typeof UNIT_SECONDS;
  const seconds = amount * UNIT_SECONDS[unit];
  if (seconds <= 0) throw new Error(`"${value}" must be longer than zero`);
  return seconds;
}

/** `1mb`, `512kb`, `100b` or plain bytes, for BODY_LIMIT. */
export function parseByteSize(value: string): number {
  const match = /^(\d{1,12})\s*(b|kb|mb|gb)?$/i.exec(value.trim());
  if (!match) throw new Error(`"${value}" is not a size (use 1mb, 512kb or plain bytes)`);
  const factor = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[
    (match[2] ?? 'b').toLowerCase() as 'b' | 'kb' | 'mb' | 'gb'
  ];
  return Number(match[1]) * factor;
}
