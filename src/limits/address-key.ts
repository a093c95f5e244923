import ipaddr from 'ipaddr.js';

/**
 * The key a per-address limit counts under. An IPv6 client usually holds a whole /64 (one
 * home or cloud host gets 2^64 addresses), so counting single IPv6 addresses would let it
 * rotate past any limit: IPv6 is keyed by its /64. An IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`, a dual-stack socket) counts as its IPv4 address.
 */
export function addressKey(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  let address = ipaddr.parse(ip);
  if (address.kind() === 'ipv6') {
    const v6 = address as ipaddr.IPv6;
    if (!v6.isIPv4MappedAddress()) {
      const prefix = v6.parts.slice(0, 4).map((part) => part.toString(16));
      return `${prefix.join(':')}::/64`;
    }
    address = v6.toIPv4Address();
  }
  return address.toString();
}
