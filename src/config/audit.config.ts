import { createSecretKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';

/**
 * AUDIT_HMAC_KEY keys the audit chain's HMAC. It lives outside the database on purpose:
 * whoever can write the audit table (the app's own role, a DBA) cannot recompute the chain
 * without it.
 */
export const auditConfigSchema = z
  .object({
    AUDIT_HMAC_KEY: z
      .string({ message: 'is required' })
      .refine((value) => Buffer.byteLength(value) >= 32, 'must be at least 32 bytes'),
  })
  .transform((env): { hmacKey: KeyObject } => ({
    hmacKey: createSecretKey(Buffer.from(env.AUDIT_HMAC_KEY)),
  }));
export type AuditConfig = z.output<typeof auditConfigSchema>;
