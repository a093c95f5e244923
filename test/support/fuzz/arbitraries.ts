import fc from 'fast-check';
import type { Node } from './json-tree';

// The values the fuzz suite (test/fuzz.e2e-spec.ts) sends: strings that break parsers, logs
// and terminals, dangerous keys, the field names the routes know, and JSON trees of them.

export const EDGE_STRINGS = [
  '',
  '\u0000',
  'a\u0000b',
  '\uD800', // lone high surrogate
  '\uDFFF', // lone low surrogate
  '\uDBFF\uD800',
  '\u202Eevil\u202C', // RTL override
  '\u200F\u200E',
  '\uFEFF',
  '\u2028\u2029',
  '👩‍👩‍👧‍👦',
  'e\u0301\u0301\u0301',
  '\r\n{"level":60,"msg":"forged log line"}\n',
  '\u001b[31mred\u001b[0m',
  '%00%0d%0a',
  '../../etc/passwd',
  '${jndi:ldap://x}',
  "'; drop table users; --",
  '<script>alert(1)</script>',
  'Bearer kw_',
  '__proto__',
  'constructor',
  '9'.repeat(400),
];
export const DANGEROUS_KEYS = ['__proto__', 'constructor', 'prototype'];
export const FIELD_NAMES = [
  'grant_type',
  'username',
  'password',
  'refresh_token',
  'scope',
  'client_id',
  'token',
  'token_type_hint',
  'name',
  'scopes',
  'expiresInDays',
  'messages',
  'role',
  'content',
  'model',
  'stream',
  'stream_options',
  'max_tokens',
  'roles',
  'disabled',
  'chatRpm',
  'chatDailyTokens',
  'user',
  'n',
  'tools',
];

export const edgeString = fc.oneof(
  fc.constantFrom(...EDGE_STRINGS),
  fc.string({ unit: fc.constantFrom(...EDGE_STRINGS.filter((s) => s.length > 0)), maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 40 }),
);
export const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FIELD_NAMES) },
  { weight: 2, arbitrary: fc.constantFrom(...DANGEROUS_KEYS) },
  { weight: 1, arbitrary: edgeString },
);
export const leafArb: fc.Arbitrary<Node> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.constantFrom(0, -0, -1, 1e308, -1e308, 2 ** 53, 2 ** 31, 1.5, Number.MIN_VALUE),
  fc.double(),
  edgeString,
);

export const { node: nodeArb } = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('node'), { maxLength: 4 }),
    fc
      .array(fc.tuple(keyArb, tie('node')), { maxLength: 5 })
      .map((entries): Node => ({ obj: entries })),
  ),
}));

/** Percent-encodes; a lone surrogate goes out as its CESU-8 bytes (invalid UTF-8). */
export function percent(value: string): string {
  const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
  return lone.test(value)
    ? `${encodeURIComponent(value.replace(lone, ''))}%ED%A0%80`
    : encodeURIComponent(value);
}
