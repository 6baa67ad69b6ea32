// Owns the words for a route, as `policy test`, `quarantine show` and notices print it: what would happen to a
// recipient, including the TLS level the destination's outbound.tls adds.
import { stronger, type Route, type TlsLevel } from '../envelope.js';


const LEVEL_WORDS: Record<TlsLevel, string> = {
  none: 'without TLS',
  may: 'with opportunistic TLS (may)',
  encrypt: 'over TLS, certificate not checked (encrypt)',
  verify: 'over verified TLS (verify)',
};

const METHOD_WORDS: Record<string, string> = {
  tls: 'verified TLS', pgp: 'OpenPGP to the recipient\'s key', smime: 'S/MIME to the recipient\'s certificate', portal: 'the secure portal',
};

/** The TLS level a deliver route sends with: the stronger of the rule's and the destination's. */
export function effectiveLevel(route: Route, floor: TlsLevel): TlsLevel {
  const want = route.action === 'encrypt' ? 'verify' : route.tls ?? 'none';
  return stronger(want, floor);
}

export function describeRoute(route: Route, floor: TlsLevel): string {
  const edits = route.changes
    ? [
      route.changes.strip?.length ? `remove ${route.changes.strip.map((s) => `"${s}"`).join(', ')} from the subject` : '',
      route.changes.subjectPrefix ? `prefix the subject with "${route.changes.subjectPrefix}"` : '',
      route.changes.headers?.length ? `add header ${route.changes.headers.map(([n]) => n).join(', ')}` : '',
    ].filter(Boolean)
    : [];
  const tail = edits.length ? `; ${edits.join('; ')}` : '';
  switch (route.action) {
    case 'reject': return `reject: "${route.reason}" (the sender gets 550 5.7.1 or a DSN)`;
    case 'quarantine': return `hold for an admin: "${route.reason}" (phigate quarantine release|delete)`;
    case 'deliver': {
      const level = effectiveLevel(route, floor);
      const raised = level !== (route.tls ?? 'none') ? ` (raised by outbound.tls from ${route.tls ?? 'the default'})` : '';
      return `deliver ${LEVEL_WORDS[level]}${raised}${tail}`;
    }
    case 'encrypt':
      return `protected: ${(route.methods ?? []).map((m) => METHOD_WORDS[m] ?? m).join(', else ')}; hold when none can be used${tail}`;
  }
}
