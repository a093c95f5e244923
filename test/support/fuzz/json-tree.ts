// JSON as a syntax tree, so generated text can hold what a JS object cannot: duplicate keys,
// an own `__proto__` key, key order chosen by the attacker (test/fuzz.e2e-spec.ts).

export type Node = null | boolean | number | string | Node[] | { readonly obj: [string, Node][] };

export function serialize(node: Node): string {
  if (node === null || typeof node !== 'object') {
    // JSON.stringify escapes lone surrogates as \udXXX: the server's parser revives them.
    return typeof node === 'number' && !Number.isFinite(node) ? 'null' : JSON.stringify(node);
  }
  if (Array.isArray(node)) return `[${node.map(serialize).join(',')}]`;
  return `{${node.obj.map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`).join(',')}}`;
}

export const obj = (value: Record<string, unknown>): Node => ({
  obj: Object.entries(value).map(([k, v]) => [k, toNode(v)]),
});
export function toNode(value: unknown): Node {
  if (Array.isArray(value)) return value.map(toNode);
  if (value !== null && typeof value === 'object') return obj(value as Record<string, unknown>);
  return value as Node;
}

/** A valid body per route: mutations of it reach past the first validator. */
export function mutate(base: Node, random: Node, key: string, how: number): Node {
  if (base === null || typeof base !== 'object' || Array.isArray(base)) return random;
  const entries = [...base.obj];
  switch (how % 6) {
    case 0: // replace a field's value (wrong types, huge, unicode)
      if (entries.length > 0)
        entries[how % entries.length] = [entries[how % entries.length][0], random];
      break;
    case 1: // extra field (mass assignment) or a dangerous key
      entries.push([key, random]);
      break;
    case 2: // duplicate a key with a different value: which one wins must not matter
      if (entries.length > 0) entries.push([entries[how % entries.length][0], random]);
      break;
    case 3: // a field missing
      entries.splice(how % Math.max(1, entries.length), 1);
      break;
    case 4: // the dangerous key at depth
      entries.push([key, { obj: [['__proto__', { obj: [['polluted', 'yes']] }]] }]);
      break;
    default: // constructor.prototype at depth
      entries.push([
        'x',
        { obj: [['constructor', { obj: [['prototype', { obj: [['polluted', 'yes']] }]] }]] },
      ]);
  }
  return { obj: entries };
}
