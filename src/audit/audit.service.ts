import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { and, asc, desc, eq, gt, lt, sql } from 'drizzle-orm';
import { DatabaseService } from '../database/database.service';
import { auditLog } from '../database/schema';
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

export function chainHash(prevHash: string, fields: ChainedFields): string {
  const body = canonicalJson({ ...fields, at: fields.at.toISOString() });
  return createHash('sha256').update(`${prevHash}\n${body}`).digest('hex');
}

export type AuditVerification =
  { ok: true; rows: number } | { ok: false; rows: number; brokenAtId: number; reason: string };

/**
 * Append-only, hash-chained audit log: each row carries the hash of the previous one,
 * so editing or deleting a row breaks every later link (`npm run cli -- audit verify`).
 */
@Injectable()
export class AuditService {
  private readonly logger = new Logger(AuditService.name);

  constructor(private readonly database: DatabaseService) {}

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
      await tx.insert(auditLog).values({ ...fields, prevHash, hash: chainHash(prevHash, fields) });
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

  async verify(batchSize = 1000): Promise<AuditVerification> {
    let prevHash = GENESIS_HASH;
    let lastId = 0;
    let rows = 0;
    for (;;) {
      const batch = await this.database.db
        .select()
        .from(auditLog)
        .where(gt(auditLog.id, lastId))
        .orderBy(asc(auditLog.id))
        .limit(batchSize);
      for (const row of batch) {
        rows += 1;
        if (row.prevHash !== prevHash) {
          return {
            ok: false,
            rows,
            brokenAtId: row.id,
            reason: 'previous-hash link broken (a row was removed or inserted)',
          };
        }
        const expected = chainHash(prevHash, {
          at: row.at,
          event: row.event,
          actorId: row.actorId,
          subject: row.subject,
          ip: row.ip,
          details: row.details,
        });
        if (expected !== row.hash) {
          return {
            ok: false,
            rows,
            brokenAtId: row.id,
            reason: 'row content does not match its hash (edited)',
          };
        }
        prevHash = row.hash;
        lastId = row.id;
      }
      if (batch.length < batchSize) return { ok: true, rows };
    }
  }
}
