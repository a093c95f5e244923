import ipaddr from 'ipaddr.js';
import { DomainError } from '../common/domain-error';
import { nanosFromUsd, usdFromNanos } from '../pricing/pricing.service';

/**
 * The limits a key or a team may carry (docs/policy.md). Null: no limit of its own (the other
 * limits of the call still apply); `models` null: every model the server offers.
 */
export interface PolicyLimits {
  readonly rpm: number | null;
  readonly dailyTokens: number | null;
  readonly monthlyTokens: number | null;
  /** nano-USD (1e-9 USD), as every cost is counted. */
  readonly dailyNanos: number | null;
  readonly monthlyNanos: number | null;
  readonly models: readonly string[] | null;
}

/** The same limits as the API shows and takes them: budgets in USD. */
export interface PolicyLimitsView {
  rpm: number | null;
  dailyTokens: number | null;
  monthlyTokens: number | null;
  dailyUsd: number | null;
  monthlyUsd: number | null;
  models: string[] | null;
}

/** What a create or update body may carry; `undefined` leaves a field as it is. */
export type PolicyLimitsInput = Partial<PolicyLimitsView>;

export type PolicyLimitsColumns = {
  -readonly [K in keyof PolicyLimits]: K extends 'models' ? string[] | null : number | null;
};

/** Just the limits of a key or team row, as enforcement carries them. */
export function limitsOf(row: PolicyLimits): PolicyLimits {
  return {
    rpm: row.rpm,
    dailyTokens: row.dailyTokens,
    monthlyTokens: row.monthlyTokens,
    dailyNanos: row.dailyNanos,
    monthlyNanos: row.monthlyNanos,
    models: row.models,
  };
}

export function limitsView(row: PolicyLimits): PolicyLimitsView {
  return {
    rpm: row.rpm,
    dailyTokens: row.dailyTokens,
    monthlyTokens: row.monthlyTokens,
    dailyUsd: row.dailyNanos === null ? null : usdFromNanos(row.dailyNanos),
    monthlyUsd: row.monthlyNanos === null ? null : usdFromNanos(row.monthlyNanos),
    models: row.models === null ? null : [...row.models],
  };
}

/** The columns an input sets (only the fields present in it). */
export function limitsColumns(input: PolicyLimitsInput): Partial<PolicyLimitsColumns> {
  const columns: Partial<PolicyLimitsColumns> = {};
  if (input.rpm !== undefined) columns.rpm = input.rpm;
  if (input.dailyTokens !== undefined) columns.dailyTokens = input.dailyTokens;
  if (input.monthlyTokens !== undefined) columns.monthlyTokens = input.monthlyTokens;
  if (input.dailyUsd !== undefined)
    columns.dailyNanos = input.dailyUsd === null ? null : nanosFromUsd(input.dailyUsd);
  if (input.monthlyUsd !== undefined)
    columns.monthlyNanos = input.monthlyUsd === null ? null : nanosFromUsd(input.monthlyUsd);
  if (input.models !== undefined)
    columns.models = input.models === null ? null : [...new Set(input.models)];
  return columns;
}

/** Whether the limits count money: such a key or team may only call priced models. */
export function hasUsdBudget(limits: PolicyLimits): boolean {
  return limits.dailyNanos !== null || limits.monthlyNanos !== null;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * Client address ranges: parsed with ipaddr.js (IPv4, IPv6, and IPv4-mapped IPv6 clients
 * matched as the IPv4 address they carry). Returns the ranges in canonical form
 * (`10.0.0.0/8`), or throws a 400 naming the bad entry.
 */
export function normalizeCidrs(cidrs: readonly string[]): string[] {
  return cidrs.map((cidr, index) => {
    try {
      const [address, bits] = cidr.includes('/')
        ? ipaddr.parseCIDR(cidr)
        : (() => {
            const parsed = ipaddr.parse(cidr);
            return [parsed, parsed.kind() === 'ipv4' ? 32 : 128] as Range;
          })();
      const plain = unmapped(address);
      const prefix = plain !== address ? Math.max(0, bits - 96) : bits;
      const network =
        plain.kind() === 'ipv4'
          ? ipaddr.IPv4.networkAddressFromCIDR(`${plain.toString()}/${prefix}`)
          : ipaddr.IPv6.networkAddressFromCIDR(`${plain.toString()}/${prefix}`);
      return `${network.toString()}/${prefix}`;
    } catch {
      throw new DomainError('validation_failed', `allowedCidrs[${index}] is not an IP range.`, {
        errors: [
          {
            field: `allowedCidrs[${index}]`,
            message: 'must be an IPv4 or IPv6 address or CIDR range, e.g. 10.0.0.0/8',
          },
        ],
      });
    }
  });
}

function unmapped(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
    ? (address as ipaddr.IPv6).toIPv4Address()
    : address;
}

/**
 * Parsed ranges by the (normalized) list they came from. A key's list is the same array for as
 * long as its principal is cached, so the ranges are parsed once per cache fill, not on every
 * request the key makes.
 */
const parsedRanges = new WeakMap<readonly string[], readonly Range[]>();

function rangesOf(cidrs: readonly string[]): readonly Range[] {
  let ranges = parsedRanges.get(cidrs);
  if (!ranges) {
    ranges = cidrs.map((cidr) => ipaddr.parseCIDR(cidr));
    parsedRanges.set(cidrs, ranges);
  }
  return ranges;
}

/** Whether a client address is inside one of the (normalized) ranges. */
export function addressAllowed(ip: string | undefined, cidrs: readonly string[]): boolean {
  if (!ip || !ipaddr.isValid(ip)) return false;
  const client = unmapped(ipaddr.parse(ip));
  return rangesOf(cidrs).some((range) => range[0].kind() === client.kind() && client.match(range));
}
