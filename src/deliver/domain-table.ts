// Owns looking a destination domain up in a per-domain table (outbound.routes, outbound.tls): the exact
// domain, then "*.parent" wildcards from the nearest parent up, then "*", then the given fallback.

export function lookupDomain<T>(table: Record<string, T>, domain: string, fallback: T): T {
  const d = domain.toLowerCase();
  if (table[d] !== undefined) return table[d]!;
  const parts = d.split('.');
  for (let i = 1; i < parts.length; i++) {
    const w = `*.${parts.slice(i).join('.')}`;
    if (table[w] !== undefined) return table[w]!;
  }
  return table['*'] ?? fallback;
}
