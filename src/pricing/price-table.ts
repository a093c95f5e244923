import { z } from 'zod';

/**
 * Prices in USD per 1M tokens (input, cached input, output) and per generated image, as
 * OpenAI lists them. docs/pricing.md: Keyward counts money in integer nano-USD (1e-9 USD), so a
 * price with up to three decimals per 1M tokens is an exact integer per token and a call's cost
 * is exact integer arithmetic: the request log, the usage report and the budget counters add the
 * same integers and can be compared to the last digit.
 */
export interface ModelPrice {
  readonly input: number;
  readonly cachedInput: number;
  readonly output: number;
  /** Per image generated (image models); image inputs are priced as the input tokens they cost. */
  readonly image?: number;
}

/**
 * OpenAI's list prices (standard tier) for the models Keyward is most often put in front of,
 * as published on openai.com/api/pricing in 2026. Override or extend with PRICES_FILE.
 */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
  'gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
  'gpt-5-nano': { input: 0.05, cachedInput: 0.005, output: 0.4 },
  'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
  'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
  'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  o1: { input: 15, cachedInput: 7.5, output: 60 },
  o3: { input: 2, cachedInput: 0.5, output: 8 },
  'o3-mini': { input: 1.1, cachedInput: 0.55, output: 4.4 },
  'o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
  'text-embedding-3-small': { input: 0.02, cachedInput: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, cachedInput: 0.13, output: 0 },
  'text-embedding-ada-002': { input: 0.1, cachedInput: 0.1, output: 0 },
  'gpt-image-1': { input: 5, cachedInput: 1.25, output: 40 },
};

/** A price as integers: nano-USD per token, and per image. */
export interface NanoPrice {
  readonly input: number;
  readonly cachedInput: number;
  readonly output: number;
  readonly image: number;
}

/** USD per 1M tokens → nano-USD per token is × 1000; kept to 0.001 USD per 1M tokens. */
function toNanoPrice(price: ModelPrice): NanoPrice {
  return {
    input: Math.round(price.input * 1000),
    cachedInput: Math.round(price.cachedInput * 1000),
    output: Math.round(price.output * 1000),
    image: Math.round((price.image ?? 0) * 1e9),
  };
}

const usd = z.number().finite().min(0).max(1_000_000);
/** PRICES_FILE: `{"model": {"input": 0.15, "cachedInput": 0.075, "output": 0.6, "image"?: 0.04}}`. */
export const priceFileSchema = z.record(
  z.string().min(1).max(200),
  z
    .object({ input: usd, cachedInput: usd.optional(), output: usd, image: usd.optional() })
    .strict()
    .transform((price): ModelPrice => ({
      ...price,
      cachedInput: price.cachedInput ?? price.input,
    })),
);

/** The built-in table with a price file's entries over it (a file entry replaces a model's row). */
export function mergePrices(
  overrides: Readonly<Record<string, ModelPrice>> = {},
): Record<string, NanoPrice> {
  const table: Record<string, NanoPrice> = {};
  for (const [model, price] of Object.entries({ ...DEFAULT_PRICES, ...overrides })) {
    table[model] = toNanoPrice(price);
  }
  return table;
}

/** `gpt-4o-mini-2024-07-18` (what upstream answers with) is priced as `gpt-4o-mini`. */
const SNAPSHOT_SUFFIX = /-\d{4}-\d{2}-\d{2}$/;

/** The row for a model: exact name first, then the name without a dated snapshot suffix. */
export function lookupPrice(
  table: Readonly<Record<string, NanoPrice>>,
  model: string,
): NanoPrice | undefined {
  if (Object.hasOwn(table, model)) return table[model];
  const base = model.replace(SNAPSHOT_SUFFIX, '');
  return base !== model && Object.hasOwn(table, base) ? table[base] : undefined;
}
