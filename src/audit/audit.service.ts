import { createHash, createHmac, type KeyObject } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { and, asc, desc, eq, gt, lt, sql } from 'drizzle-orm';
import type { KeywardConfig } from '../config/configuration';
import { DatabaseService } from '../database/database.service';
import { type AuditRow, auditLog } from '../database/schema';
import type { AuditEntry, AuditEvent } from './audit-events';
import { canonicalJson } from './canonical-json';

export const GENESIS_HASH = '0'.repeat(64);
/** Arbitrary constant: one writer at a time appends to the chain, across instances. */
const AUDIT_LOCK_ID = 7_402_118_392;

export interface ChainedFields {
  at: Date;
  event: string;
  actorId: string | null;
  subject: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

/**
 * The link of one row: HMAC-SHA256 keyed with AUDIT_HMAC_KEY (a secret outside the
 * database, so the app's own role cannot rewrite history and recompute the chain); without
 * a key, the plain SHA-256 of rows written before the chain was keyed.
 */
export function chainHash(prevHash: string, fields: ChainedFields, key?: KeyObject): string {
  const body = canonicalJson({ ...fields, at: fields.at.toISOString() });
  const mac = key ? createHmac('sha256', key) : createHash('sha256');
  return mac.update(`${prevHash}\n${body}`).digest('hex');
}

/** The newest row of the chain, exported (`audit head`) so deleting the newest rows shows. */
export interface AuditHead {
  readonly id: number;
  readonly hash: string;
}

/** `<id>:<hash>`, the form `audit head` prints and `audit verify --head` reads. */
export function formatHead(head: AuditHead): string {
  return `${head.id}:${head.hash}`;
}

export function parseHead(value: string): AuditHead | undefined {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/.exec(value.trim());
  return match ? { id: Number(match[1]), hash: match[2] } : undefined;
}

export type AuditVerification =
  | { ok: true; rows: number; legacyRows: number }
  | { ok: false; rows: number; brokenAtId: number; reason: string };

/**
 * Append-only, hash-chained audit log: each row carries the hash of the previous one,
 * so editing or deleting a row breaks every later link (`npm run cli -- audit verify`).
 */
@Injectable()
export class AuditService {
  private readonly logger = new Logger(AuditService.name);
  private readonly key: KeyObject;

  constructor(
    private readonly database: DatabaseService,
    config: ConfigService<KeywardConfig, true>,
  ) {
    this.key = config.get('audit', { infer: true }).hmacKey;
  }

  async record(event: AuditEvent, entry: AuditEntry = {}): Promise<void> {
    const fields: ChainedFields = {
      at: new Date(),
      event,
      actorId: entry.actorId ?? null,
      subject: entry.subject ?? null,
      ip: entry.ip ?? null,
      details: entry.details ?? {},
    };
    await this.database.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${AUDIT_LOCK_ID})`);
      const [last] = await tx
        .select({ hash: auditLog.hash })
        .from(auditLog)
        .orderBy(desc(auditLog.id))
        .limit(1);
      const prevHash = last?.hash ?? GENESIS_HASH;
      await tx
        .insert(auditLog)
        .values({ ...fields, prevHash, hash: chainHash(prevHash, fields, this.key), keyed: true });
    });
  }

  /** Records without failing the caller: the security event already happened. */
  recordQuietly(event: AuditEvent, entry: AuditEntry = {}): void {
    this.record(event, entry).catch((error: unknown) =>
      this.logger.error(`audit write failed for ${event}: ${(error as Error).message}`),
    );
  }

  list(options: { limit: number; beforeId?: number; event?: string }) {
    const conditions = [
      options.beforeId ? lt(auditLog.id, options.beforeId) : undefined,
      options.event ? eq(auditLog.event, options.event) : undefined,
    ].filter((c) => c !== undefined);
    return this.database.db
      .select()
      .from(auditLog)
      .where(conditions.length ? and(...conditions) : undefined)
      .orderBy(desc(auditLog.id))
      .limit(options.limit);
  }

  /** The newest row, or undefined for an empty log. */
  async head(): Promise<AuditHead | undefined> {
    const [last] = await this.database.db
      .select({ id: auditLog.id, hash: auditLog.hash })
      .from(auditLog)
      .orderBy(desc(auditLog.id))
      .limit(1);
    return last;
  }

  /**
   * Walks the chain from the start (see ChainVerifier). With `head` (exported earlier by
   * `audit head`) the chain must still contain that row with that hash.
   */
  async verify(options: { head?: AuditHead; batchSize?: number } = {}): Promise<AuditVerification> {
    const batchSize = options.batchSize ?? 1000;
    const verifier = this.verifier(options.head);
    let lastId = 0;
    for (;;) {
      const batch = await this.database.db
        .select()
        .from(auditLog)
        .where(gt(auditLog.id, lastId))
        .orderBy(asc(auditLog.id))
        .limit(batchSize);
      for (const row of batch) {
        const failure = verifier.check(row);
        if (failure) return failure;
        lastId = row.id;
      }
      if (batch.length < batchSize) return verifier.finish();
    }
  }

  /** A verifier with this instance's key, for rows read in order from anywhere. */
  verifier(head?: AuditHead): ChainVerifier {
    return new ChainVerifier(this.key, head);
  }
}

/**
 * Checks audit rows one by one, in id order. Unkeyed rows are accepted only as a prefix (the
 * rows from before the chain was keyed). An exported head catches what an intact shorter
 * chain hides: the newest rows deleted.
 */
export class ChainVerifier {
  private prevHash = GENESIS_HASH;
  private rows = 0;
  private legacyRows = 0;
  private seenKeyed = false;
  private headSeen = false;

  constructor(
    private readonly key: KeyObject,
    private readonly head?: AuditHead,
  ) {}

  /** Undefined while the chain holds; the failure at the first broken row. */
  check(row: AuditRow): AuditVerification | undefined {
    this.rows += 1;
    const broken = (reason: string): AuditVerification => ({
      ok: false,
      rows: this.rows,
      brokenAtId: row.id,
      reason,
    });
    if (row.prevHash !== this.prevHash) {
      return broken('previous-hash link broken (a row was removed or inserted)');
    }
    if (!row.keyed && this.seenKeyed) return broken('an unkeyed row after keyed ones (forged)');
    this.seenKeyed ||= row.keyed;
    if (!row.keyed) this.legacyRows += 1;
    const fields: ChainedFields = {
      at: row.at,
      event: row.event,
      actorId: row.actorId,
      subject: row.subject,
      ip: row.ip,
      details: row.details,
    };
    if (chainHash(this.prevHash, fields, row.keyed ? this.key : undefined) !== row.hash) {
      return broken('row content does not match its hash (edited, or another AUDIT_HMAC_KEY)');
    }
    if (this.head && row.id === this.head.id) {
      if (row.hash !== this.head.hash) return broken('the exported head row differs');
      this.headSeen = true;
    }
    this.prevHash = row.hash;
    return undefined;
  }

  finish(): AuditVerification {
    if (this.head && !this.headSeen) {
      return {
        ok: false,
        rows: this.rows,
        brokenAtId: this.head.id,
        reason: 'the exported head row is gone (the newest rows were deleted)',
      };
    }
    return { ok: true, rows: this.rows, legacyRows: this.legacyRows };
  }
}
