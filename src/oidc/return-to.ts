/**
 * Where the browser goes after a single sign-on: a path on this origin, nothing else (an
 * open redirect would let a phishing link end on an attacker's page with Keyward's name in
 * the address bar). Anything doubtful becomes `/`.
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return '/';
  // One leading slash, then not a second slash or backslash (`//evil`, `/\evil` are
  // scheme-relative to browsers); no control characters or spaces, which browsers strip
  // or rewrite before parsing.
  if (!value.startsWith('/') || value[1] === '/' || value[1] === '\\') return '/';
  if (/[\p{Cc}\s\\]/u.test(value)) return '/';
  // The browser's own resolution must stay on our origin (catches what a rule above missed).
  const base = 'https://keyward.invalid';
  let resolved: URL;
  try {
    resolved = new URL(value, base);
  } catch {
    return '/';
  }
  if (resolved.origin !== base) return '/';
  return `${resolved.pathname}${resolved.search}${resolved.hash}`;
}
