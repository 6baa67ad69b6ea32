// Owns matching client addresses against trusted networks (CIDR lists), IPv4-mapped IPv6 included.
import ipaddr from 'ipaddr.js';

export type CidrList = [ipaddr.IPv4 | ipaddr.IPv6, number][];

export function parseCidrList(list: string[]): CidrList {
  return list.map((c) => ipaddr.parseCIDR(c.includes('/') ? c : c.includes(':') ? `${c}/128` : `${c}/32`));
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
