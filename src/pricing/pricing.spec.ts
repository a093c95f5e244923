import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigService } from '@nestjs/config';
import { loadConfig } from '../config/configuration';
import { meteredFromTotals, meteredFromUpstream } from './metered-usage';
import { DEFAULT_PRICES, lookupPrice, mergePrices } from './price-table';
import { PricingService, usdFromNanos } from './pricing.service';

function service(env: Record<string, string> = {}): PricingService {
  const dir = mkdtempSync(join(tmpdir(), 'kw-pricing-'));
  const config = loadConfig({ DATA_DIR: dir, ...env }, dir);
  return new PricingService(new ConfigService(config));
}

describe('price table and costs', () => {
  it('prices cached input at the cached price and reasoning at the output price, exactly', () => {
    const pricing = service();
    // gpt-4o-mini: 0.15 / 0.075 / 0.60 USD per 1M tokens = 150 / 75 / 600 nano-USD per token.
    const usage = meteredFromUpstream({
      prompt_tokens: 1000,
      completion_tokens: 300,
      prompt_tokens_details: { cached_tokens: 400 },
      completion_tokens_details: { reasoning_tokens: 100 },
    });
    expect(usage).toEqual({
      promptTokens: 1000,
      cachedTokens: 400,
      completionTokens: 300,
      reasoningTokens: 100,
    });
    expect(pricing.costNanos('gpt-4o-mini', usage)).toBe(600 * 150 + 400 * 75 + 300 * 600);
    expect(usdFromNanos(pricing.costNanos('gpt-4o-mini', usage))).toBeCloseTo(0.0003, 15);
  });

  it('reads Responses usage details and clamps details to their totals', () => {
    expect(
      meteredFromUpstream({
        input_tokens: 10,
        output_tokens: 5,
        input_tokens_details: { cached_tokens: 50 },
        output_tokens_details: { reasoning_tokens: 9 },
      }),
    ).toEqual({ promptTokens: 10, cachedTokens: 10, completionTokens: 5, reasoningTokens: 5 });
    expect(meteredFromUpstream({ prompt_tokens: -3, completion_tokens: Number.NaN })).toEqual(
      meteredFromTotals(0, 0),
    );
  });

  it('prices a dated snapshot as its model and leaves unknown models unpriced', () => {
    const table = mergePrices();
    expect(lookupPrice(table, 'gpt-4o-mini-2024-07-18')).toEqual(lookupPrice(table, 'gpt-4o-mini'));
    expect(lookupPrice(table, 'gpt-4o-mini-preview')).toBeUndefined();
    expect(lookupPrice(table, 'constructor')).toBeUndefined();
    expect(service().costNanos('no-such-model', meteredFromTotals(10, 10))).toBe(0);
  });

  it('every built-in price is an exact integer of nano-USD per token', () => {
    for (const price of Object.values(DEFAULT_PRICES)) {
      for (const value of [price.input, price.cachedInput, price.output]) {
        expect(Number.isInteger(Math.round(value * 1000))).toBe(true);
        expect(Math.abs(value * 1000 - Math.round(value * 1000))).toBeLessThan(1e-6);
      }
    }
  });

  it('PRICES_FILE replaces and adds rows; a bad file stops the start naming the variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-prices-'));
    const file = join(dir, 'prices.json');
    writeFileSync(
      file,
      JSON.stringify({
        'gpt-4o-mini': { input: 1, output: 2 },
        'my-model': { input: 3, cachedInput: 1, output: 4, image: 0.04 },
      }),
    );
    const pricing = service({ PRICES_FILE: file });
    expect(pricing.priceOf('gpt-4o-mini')).toEqual({
      input: 1000,
      cachedInput: 1000,
      output: 2000,
      image: 0,
    });
    expect(pricing.costNanos('my-model', { ...meteredFromTotals(0, 0), images: 2 })).toBe(
      80_000_000,
    );
    expect(pricing.priceOf('gpt-4o')).toEqual(mergePrices()['gpt-4o']);

    writeFileSync(file, JSON.stringify({ 'gpt-4o': { input: -1, output: 2 } }));
    expect(() => service({ PRICES_FILE: file })).toThrow(/PRICES_FILE.*gpt-4o\.input/);
    writeFileSync(file, '{not json');
    expect(() => service({ PRICES_FILE: file })).toThrow(/PRICES_FILE.*not valid JSON/);
    expect(() => service({ PRICES_FILE: join(dir, 'missing.json') })).toThrow(
      /PRICES_FILE.*ENOENT/,
    );
    writeFileSync(file, JSON.stringify({ m: { input: 1, output: 1, extra: 1 } }));
    expect(() => service({ PRICES_FILE: file })).toThrow(/PRICES_FILE/);
  });

  it('the worst case bounds every cost, and a USD allowance turns into a completion cap', () => {
    const pricing = service();
    const worst = pricing.worstCaseNanos('gpt-4o', 100, 50);
    expect(worst).toBe(100 * 2500 + 50 * 10_000);
    expect(pricing.costNanos('gpt-4o', meteredFromTotals(100, 50))).toBeLessThanOrEqual(worst);
    expect(pricing.completionTokensWithin('gpt-4o', 100, worst)).toBe(50);
    expect(pricing.completionTokensWithin('gpt-4o', 100, 1000)).toBe(0);
    expect(pricing.completionTokensWithin('no-such-model', 100, 0)).toBe(Infinity);
  });
});
