import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { mergePrices, type ModelPrice, priceFileSchema } from '../pricing/price-table';
import { optionalString } from './schema-helpers';

/**
 * PRICES_FILE (docs/pricing.md): a JSON file whose entries replace or add rows of the built-in
 * price table. Read once at start; a file that cannot be read or parsed stops the start, naming
 * the variable (a wrong price table would misbill every call silently).
 */
export const pricingConfigSchema = z
  .object({ PRICES_FILE: optionalString() })
  .transform((env, ctx) => {
    let overrides: Record<string, ModelPrice> = {};
    if (env.PRICES_FILE !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(env.PRICES_FILE, 'utf8'));
      } catch (error) {
        const reason =
          (error as NodeJS.ErrnoException).code !== undefined
            ? `cannot be read (${(error as NodeJS.ErrnoException).code})`
            : 'is not valid JSON';
        ctx.addIssue({ code: 'custom', path: ['PRICES_FILE'], message: reason });
        return z.NEVER;
      }
      const result = priceFileSchema.safeParse(parsed);
      if (!result.success) {
        const issue = result.error.issues[0];
        ctx.addIssue({
          code: 'custom',
          path: ['PRICES_FILE'],
          message: `has an invalid entry at ${issue.path.join('.') || 'the top level'}: ${issue.message}`,
        });
        return z.NEVER;
      }
      overrides = result.data;
    }
    return { file: env.PRICES_FILE, table: mergePrices(overrides) };
  });
export type PricingConfig = z.output<typeof pricingConfigSchema>;
