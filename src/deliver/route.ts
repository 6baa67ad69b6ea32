// Owns next-hop resolution per destination domain: an explicit "host:port" route from outbound.routes, or MX
// lookup in preference order with the implicit MX (A/AAAA of the domain) when there is none. DNS comes in
// through an injected resolver.
import { lookupDomain } from './domain-table.js';
export interface Resolver {
  resolveMx(name: string): Promise<{ exchange: string; priority: number }[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  /** The SMTP port of MX and implicit-MX hosts: 25 unless a lab or test resolver says otherwise. */
  mxPort?: number;
  /** TXT records (MTA-STS discovery); a resolver without it means no MTA-STS */
  resolveTxt?(name: string): Promise<string[][]>;
}

export interface NextHop { host: string; port: number; viaMx: boolean }

export type RouteResult = { ok: true; hops: NextHop[] } | { ok: false; permanent: boolean; reason: string };

/** The configured route for a domain: exact, then "*.parent" wildcards, then "*". */
export function routeFor(domain: string, routes: Record<string, string>): string {
  return lookupDomain(routes, domain, 'mx');
}

export function parseHostPort(route: string): NextHop {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(route) ?? /^([^:]+):(\d+)$/.exec(route);
  if (!m) throw new Error(`bad route ${route}`);
  return { host: m[1]!, port: Number(m[2]), viaMx: false };
}

const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);

export async function resolveNextHops(domain: string, routes: Record<string, string>, resolver: Resolver): Promise<RouteResult> {
  const route = routeFor(domain, routes);
  if (route !== 'mx') return { ok: true, hops: [parseHostPort(route)] };
  const port = resolver.mxPort ?? 25;
  try {
    const mx = await resolver.resolveMx(domain);
    if (mx.length === 1 && (mx[0]!.exchange === '' || mx[0]!.exchange === '.')) {
      return { ok: false, permanent: true, reason: `${domain} publishes a null MX: it accepts no mail (RFC 7505)` };
    }
    if (mx.length) {
      const sorted = [...mx].sort((a, b) => a.priority - b.priority);
      return { ok: true, hops: sorted.map((m) => ({ host: m.exchange.replace(/\.$/, ''), port, viaMx: true })) };
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (!NOT_FOUND.has(code)) return { ok: false, permanent: false, reason: `MX lookup for ${domain} failed: ${code || (e as Error).message}` };
  }
  // RFC 5321 5.1: no MX records, the domain itself is the implicit MX
  // a family that does not exist is empty; any other failure means we do not know yet (temporary)
  let failed = '';
  const addrs = await Promise.all([resolver.resolve4(domain), resolver.resolve6(domain)].map((p) => p.catch((e: NodeJS.ErrnoException) => {
    if (!NOT_FOUND.has(e.code ?? '')) failed ||= e.code || e.message;
    return [] as string[];
  })));
  if (addrs[0]!.length || addrs[1]!.length) return { ok: true, hops: [{ host: domain, port, viaMx: false }] };
  if (failed) return { ok: false, permanent: false, reason: `address lookup for ${domain} failed: ${failed}` };
  return { ok: false, permanent: true, reason: `${domain} has no MX and no address records` };
}
