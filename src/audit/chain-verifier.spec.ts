import { createSecretKey, randomBytes } from 'node:crypto';
import type { AuditRow } from '../database/schema';
import { type AuditHead, chainHash, ChainVerifier, GENESIS_HASH } from './audit.service';

const key = createSecretKey(randomBytes(32));

/** A chain of `count` rows, the first `legacy` of them unkeyed (written before the key). */
function chain(count: number, legacy = 0, signingKey = key): AuditRow[] {
  const rows: AuditRow[] = [];
  let prevHash = GENESIS_HASH;
  for (let i = 0; i < count; i += 1) {
    const keyed = i >= legacy;
    const fields = {
      at: new Date(1_800_000_000_000 + i * 1000),
      event: 'login.failed',
      actorId: i % 2 ? 'https://idp.example#svc' : null,
      subject: `user${i}`,
      ip: '192.0.2.1',
      details: { n: i },
    };
    const hash = chainHash(prevHash, fields, keyed ? signingKey : undefined);
    rows.push({ id: i + 1, ...fields, prevHash, hash, keyed });
    prevHash = hash;
  }
  return rows;
}

function verify(rows: AuditRow[], head?: AuditHead) {
  const verifier = new ChainVerifier(key, head);
  for (const row of rows) {
    const failure = verifier.check(row);
    if (failure) return failure;
  }
  return verifier.finish();
}

describe(ChainVerifier.name, () => {
  it('accepts a keyed chain, and legacy unkeyed rows as its prefix', () => {
    expect(verify(chain(5))).toEqual({ ok: true, rows: 5, legacyRows: 0 });
    expect(verify(chain(5, 2))).toEqual({ ok: true, rows: 5, legacyRows: 2 });
  });

  it('refuses a chain keyed with another key, and an unkeyed row after keyed ones', () => {
    expect(verify(chain(3, 0, createSecretKey(randomBytes(32))))).toMatchObject({
      ok: false,
      brokenAtId: 1,
    });
    const rows = chain(4);
    // An unkeyed forgery appended with a correct plain SHA-256 link.
    const last = rows[3];
    const forged = { ...last, id: 5, subject: 'x', prevHash: last.hash, keyed: false };
    forged.hash = chainHash(last.hash, forged);
    expect(verify([...rows, forged])).toMatchObject({
      ok: false,
      brokenAtId: 5,
      reason: expect.stringMatching(/unkeyed row after keyed/),
    });
  });

  it('checks an exported head: present, changed, or gone with the newest rows', () => {
    const rows = chain(6);
    const head = { id: 6, hash: rows[5].hash };
    expect(verify(rows, head)).toMatchObject({ ok: true });
    expect(verify(rows.slice(0, 4))).toMatchObject({ ok: true });
    expect(verify(rows.slice(0, 4), head)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/head row is gone/),
    });
    expect(verify(rows, { id: 6, hash: 'a'.repeat(64) })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/head row differs/),
    });
  });
});
