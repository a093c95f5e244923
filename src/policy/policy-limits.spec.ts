import { DomainError } from '../common/domain-error';
import { addressAllowed, limitsColumns, limitsView, normalizeCidrs } from './policy-limits';

describe('allowed address ranges', () => {
  it('normalizes IPv4, IPv6, single addresses and IPv4-mapped ranges', () => {
    expect(
      normalizeCidrs(['10.1.2.3/8', '192.0.2.7', '2001:db8::1/32', '::1', '::ffff:10.0.0.0/104']),
    ).toEqual(['10.0.0.0/8', '192.0.2.7/32', '2001:db8::/32', '::1/128', '10.0.0.0/8']);
  });

  it('refuses anything that is not an address or range, naming the entry', () => {
    for (const bad of ['10.0.0.0/33', '300.1.1.1', 'abc', '1.2.3.4/', '::g', '10.0.0.0/8\u0000']) {
      expect(() => normalizeCidrs(['127.0.0.1', bad])).toThrow(DomainError);
      expect(() => normalizeCidrs(['127.0.0.1', bad])).toThrow(/allowedCidrs\[1\]/);
    }
  });

  it('matches IPv4 clients, IPv6 clients, and IPv4-mapped IPv6 clients as IPv4', () => {
    const ranges = normalizeCidrs(['10.0.0.0/8', '2001:db8::/32']);
    expect(addressAllowed('10.200.1.1', ranges)).toBe(true);
    expect(addressAllowed('::ffff:10.200.1.1', ranges)).toBe(true);
    expect(addressAllowed('2001:db8:1::5', ranges)).toBe(true);
    expect(addressAllowed('11.0.0.1', ranges)).toBe(false);
    expect(addressAllowed('::ffff:11.0.0.1', ranges)).toBe(false);
    expect(addressAllowed('2001:db9::1', ranges)).toBe(false);
    expect(addressAllowed(undefined, ranges)).toBe(false);
    expect(addressAllowed('not an ip', ranges)).toBe(false);
  });
});

describe('limits in USD and nano-USD', () => {
  it('stores USD as integer nano-USD and shows it back as USD; null clears, absent keeps', () => {
    const columns = limitsColumns({ dailyUsd: 0.000005, monthlyUsd: null, models: ['a', 'a'] });
    expect(columns).toEqual({ dailyNanos: 5000, monthlyNanos: null, models: ['a'] });
    expect('rpm' in columns).toBe(false);
    expect(
      limitsView({
        rpm: null,
        dailyTokens: 5,
        monthlyTokens: null,
        dailyNanos: 5000,
        monthlyNanos: null,
        models: null,
      }),
    ).toEqual({
      rpm: null,
      dailyTokens: 5,
      monthlyTokens: null,
      dailyUsd: 0.000005,
      monthlyUsd: null,
      models: null,
    });
  });
});
