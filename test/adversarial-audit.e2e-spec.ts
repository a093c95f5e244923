import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { asc, desc, eq, gte, sql } from 'drizzle-orm';
import {
  type AuditHead,
  AuditService,
  type AuditVerification,
  formatHead,
} from '../src/audit/audit.service';
import { canonicalJson } from '../src/audit/canonical-json';
import { DatabaseService } from '../src/database/database.service';
import { type AuditRow, auditLog } from '../src/database/schema';
import { PASSWORD } from './support/auth-helpers';
import { cliDataDir, runCliIn } from './support/cli';
import { createTestApp, type TestApp, uniqueName } from './support/test-app';

/** Same constant as AuditService: holding it keeps every writer out while a test edits. */
const AUDIT_LOCK_ID = 7_402_118_392;

type Tx = Parameters<Parameters<DatabaseService['db']['transaction']>[0]>[0];

/**
 * Issue 14, item 15: the audit chain against someone who can write the table (the app's
 * own database role): rewriting rows and recomputing the links, appending forged rows,
 * truncating, deleting the newest rows.
 */
describe('Adversarial audit', () => {
  let t: TestApp;
  let audit: AuditService;
  let db: DatabaseService['db'];

  /**
   * Runs an attack inside a transaction that holds the audit lock and is rolled back, and
   * verifies the attacked chain there with the service's own verifier: a database shared
   * with other suites (test:services) never sees the damage.
   */
  async function attacked(
    attack: (tx: Tx) => Promise<void>,
    head?: AuditHead,
  ): Promise<AuditVerification> {
    let result: AuditVerification | undefined;
    await db
      .transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${AUDIT_LOCK_ID})`);
        await tx.execute(sql`alter table audit_log disable trigger audit_log_append_only`);
        await attack(tx);
        const verifier = audit.verifier(head);
        const rows = await tx.select().from(auditLog).orderBy(asc(auditLog.id));
        for (const row of rows) {
          result = verifier.check(row);
          if (result) break;
        }
        result ??= verifier.finish();
        tx.rollback();
      })
      .catch((error: unknown) => {
        if (!(error instanceof Error && /rollback/i.test(error.message))) throw error;
      });
    return result!;
  }

  /** What an attacker without AUDIT_HMAC_KEY can compute: the unkeyed SHA-256 link. */
  const unkeyedLink = (prevHash: string, row: AuditRow) =>
    createHash('sha256')
      .update(
        `${prevHash}\n${canonicalJson({
          at: row.at.toISOString(),
          event: row.event,
          actorId: row.actorId,
          subject: row.subject,
          ip: row.ip,
          details: row.details,
        })}`,
      )
      .digest('hex');

  beforeAll(async () => {
    t = await createTestApp();
    audit = t.app.get(AuditService);
    db = t.app.get(DatabaseService).db;
    for (let i = 0; i < 3; i += 1) {
      await audit.record('login.failed', { subject: uniqueName('probe'), ip: '192.0.2.1' });
    }
  });
  afterAll(() => t.close());

  it('verifies the untouched chain inside the attack harness (the harness itself is sound)', async () => {
    expect(await attacked(() => Promise.resolve())).toMatchObject({ ok: true });
  });

  it('refuses TRUNCATE at the database level', async () => {
    await expect(db.execute(sql`truncate audit_log`)).rejects.toThrow();
    expect((await audit.verify()).ok).toBe(true);
  });

  it('detects history rewritten with every later link recomputed', async () => {
    const result = await attacked(async (tx) => {
      const rows = await tx.select().from(auditLog).orderBy(asc(auditLog.id));
      const from = rows.length - 3;
      let prevHash = rows[from].prevHash;
      for (const [index, row] of rows.slice(from).entries()) {
        const edited = index === 0 ? { ...row, subject: 'someone-else' } : row;
        const hash = unkeyedLink(prevHash, edited);
        await tx
          .update(auditLog)
          .set({ subject: edited.subject, prevHash, hash })
          .where(eq(auditLog.id, row.id));
        prevHash = hash;
      }
    });
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/does not match/) });
  });

  it('detects a forged row appended with a plain SHA-256 link, keyed or marked legacy', async () => {
    for (const keyed of [true, false]) {
      const result = await attacked(async (tx) => {
        const [last] = await tx.select().from(auditLog).orderBy(desc(auditLog.id)).limit(1);
        const forged = {
          at: new Date(),
          event: 'user.roles_changed',
          actorId: last.actorId,
          subject: 'framed-user',
          ip: '192.0.2.9',
          details: {},
        };
        await tx.insert(auditLog).values({
          ...forged,
          prevHash: last.hash,
          hash: unkeyedLink(last.hash, { ...last, ...forged }),
          keyed,
        });
      });
      expect(result).toMatchObject({ ok: false });
    }
  });

  it('detects deleting the newest rows against an exported head', async () => {
    const head = (await audit.head())!;
    expect(formatHead(head)).toMatch(/^\d+:[0-9a-f]{64}$/);
    expect(await audit.verify({ head })).toMatchObject({ ok: true });
    const result = await attacked((tx) =>
      tx
        .delete(auditLog)
        .where(gte(auditLog.id, head.id - 1))
        .then(() => undefined),
    );
    // Without the head the shorter chain is intact in itself...
    expect(result).toMatchObject({ ok: true });
    // ...against the exported head it is not.
    const withHead = await attacked(
      (tx) =>
        tx
          .delete(auditLog)
          .where(gte(auditLog.id, head.id - 1))
          .then(() => undefined),
      head,
    );
    expect(withHead).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/head row is gone/),
    });
    expect(await audit.verify({ head })).toMatchObject({ ok: true });
  });
});

describe('Adversarial audit (CLI)', () => {
  let dataDir: string;
  beforeAll(() => (dataDir = cliDataDir('keyward-audit-cli-')));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const cli = (args: string[], env: Record<string, string> = {}, stdin = '') =>
    runCliIn(dataDir, args, { stdin, env });

  it('prints the head, verifies against it, and refuses a head that is gone or a foreign key', async () => {
    const created = await cli(
      ['users', 'create', uniqueName('auditcli'), '--password-stdin'],
      {},
      `${PASSWORD}\n`,
    );
    expect(created.code).toBe(0);
    const head = await cli(['audit', 'head']);
    expect(head.code).toBe(0);
    const value = head.out.trim();
    expect(value).toMatch(/^\d+:[0-9a-f]{64}$/);
    const ok = await cli(['audit', 'verify', '--head', value]);
    expect(ok).toMatchObject({ code: 0, out: expect.stringMatching(/intact.*head \d+ present/) });
    const [id, hash] = value.split(':');
    const gone = await cli(['audit', 'verify', '--head', `${Number(id) + 10_000}:${hash}`]);
    expect(gone).toMatchObject({ code: 3, err: expect.stringMatching(/head row is gone/) });
    expect((await cli(['audit', 'verify', '--head', 'nonsense'])).code).toBe(2);
    // The chain is keyed: the same rows do not verify under another AUDIT_HMAC_KEY.
    const foreign = await cli(['audit', 'verify'], {
      AUDIT_HMAC_KEY: randomBytes(32).toString('base64url'),
    });
    expect(foreign.code).toBe(3);
    expect(foreign.err).toMatch(/does not match its hash/);
    // Each CLI call opens the embedded database: slow on a loaded machine.
  }, 120_000);
});
