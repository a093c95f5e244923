import { chainHash, GENESIS_HASH } from './audit.service';
import { canonicalJson } from './canonical-json';

describe(canonicalJson.name, () => {
  it('sorts keys at every level, so jsonb reordering cannot change a hash', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('chains: the same row under another previous hash hashes differently', () => {
    const row = {
      at: new Date(0),
      event: 'logout',
      actorId: null,
      subject: 's',
      ip: null,
      details: {},
    };
    const first = chainHash(GENESIS_HASH, row);
    expect(chainHash(first, row)).not.toBe(first);
    expect(chainHash(GENESIS_HASH, { ...row, subject: 't' })).not.toBe(first);
  });
});
