import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { KeywardConfig } from '../config/configuration';
import type { MeteredUsage } from './metered-usage';
import { lookupPrice, type NanoPrice } from './price-table';

/** nano-USD (the unit every cost is counted in) per USD. */
const NANOS_PER_USD = 1_000_000_000;

export function usdFromNanos(nanos: number): number {
  return nanos / NANOS_PER_USD;
}

/** A USD amount from the API (a budget) in nano-USD, rounded to the nano. */
export function nanosFromUsd(usd: number): number {
  return Math.round(usd * NANOS_PER_USD);
}

/**
 * Turns usage into money with the price table (built-in, PRICES_FILE over it; docs/pricing.md).
 * Every cost is an integer of nano-USD: input tokens not cached at the input price, cached ones
 * at the cached price, output tokens (reasoning included, as OpenAI bills them) at the output
 * price, generated images at the image price.
 */
@Injectable()
export class PricingService {
  private readonly logger = new Logger(PricingService.name);
  private readonly table: Readonly<Record<string, NanoPrice>>;
  private readonly warned = new Set<string>();

  constructor(config: ConfigService<KeywardConfig, true>) {
    this.table = config.get('pricing', { infer: true }).table;
  }

  /** The model's row, or undefined when the table does not price it. */
  priceOf(model: string): NanoPrice | undefined {
    return lookupPrice(this.table, model);
  }

  isPriced(model: string): boolean {
    return this.priceOf(model) !== undefined;
  }

  /**
   * The cost of a call in nano-USD. An unpriced model costs 0 and is logged once per model:
   * a USD budget cannot be enforced on it, which is why policies with USD limits refuse
   * unpriced models before the call (see `isPriced`).
   */
  costNanos(model: string, usage: MeteredUsage): number {
    const price = this.priceOf(model);
    if (!price) {
      this.warnUnpriced(model);
      return 0;
    }
    const cached = Math.min(usage.cachedTokens, usage.promptTokens);
    return (
      (usage.promptTokens - cached) * price.input +
      cached * price.cachedInput +
      usage.completionTokens * price.output +
      (usage.images ?? 0) * price.image
    );
  }

  /** The most a call can cost: every prompt token uncached, the whole completion allowance. */
  worstCaseNanos(model: string, promptTokens: number, maxCompletionTokens: number): number {
    const price = this.priceOf(model);
    if (!price) return 0;
    return promptTokens * price.input + maxCompletionTokens * price.output;
  }

  /**
   * How many completion tokens fit in `nanos` after the prompt's worst case: what a USD budget
   * turns into when it clamps `max_tokens`. Infinity for an unpriced or output-free model.
   */
  completionTokensWithin(model: string, promptTokens: number, nanos: number): number {
    const price = this.priceOf(model);
    if (!price || price.output === 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, Math.floor((nanos - promptTokens * price.input) / price.output));
  }

  private warnUnpriced(model: string): void {
    if (this.warned.has(model) || this.warned.size > 1000) return;
    this.warned.add(model);
    this.logger.warn(`no price for model ${JSON.stringify(model)}: its calls cost 0 in reports`);
  }
}
