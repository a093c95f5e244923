/** Replaces every match of the configured patterns (REQUEST_LOG_REDACT and the defaults). */
export function redact(text: string, patterns: readonly RegExp[]): string {
  let out = text;
  for (const pattern of patterns) {
    pattern.lastIndex = 0;
    out = out.replace(pattern, '[REDACTED]');
  }
  return out;
}
