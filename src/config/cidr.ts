// Owns matching client addresses against trusted networks (CIDR lists), IPv4-mapped IPv6 included.
import ipaddr from 'ipaddr.js';

export type CidrList = [ipaddr.IPv4 | ipaddr.IPv6, number][];

/** Parses one entry; a bare address is a /32 or /128. Throws on anything that is not a network. */
function parseOne(c: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  // ipaddr.js also takes inet_aton forms: "010.0.0.0" is octal (8.0.0.0), "10/8" is 0.0.0.10/8, "127.1" is
  // 127.0.0.1. In a trust list a typo must be an error, not a different network: IPv4 only as a.b.c.d.
  const [addr = '', prefix, ...rest] = c.split('/');
  if (rest.length || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) throw new Error(`not a CIDR network: ${c}`);
  if (!addr.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(addr)) throw new Error(`not a dotted-quad IPv4 address: ${c}`);
  const [net, bits] = ipaddr.parseCIDR(c.includes('/') ? c : c.includes(':') ? `${c}/128` : `${c}/32`);
  // An IPv4-mapped IPv6 network (::ffff:10.0.0.0/104) is an IPv4 network: clients are matched after
  // ipaddr.process() turns ::ffff:a.b.c.d into a.b.c.d, so match it as one.
  if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(net as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [net, bits];
}

export function parseCidrList(list: string[]): CidrList {
  return list.map(parseOne);
}

export function addressInList(address: string, list: CidrList): boolean {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(address);
  } catch {
    return false;
  }
  return list.some(([net, bits]) => addr.kind() === net.kind() && addr.match([net, bits] as never));
}
