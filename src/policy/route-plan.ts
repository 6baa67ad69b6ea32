// Owns what one recipient's route asks for at the next attempt, as small pure decisions: bounce (policy reject),
// hold (quarantine, or no protected method left), or send with a TLS level and the rule's edits. An encrypt
// route walks its methods in order; a method that cannot serve this recipient is skipped with its reason.
import { stronger, type ContentChanges, type EncryptMethod, type Route, type TlsLevel } from '../envelope.js';


export type Plan =
  | { kind: 'bounce'; reply: string; reason: 'policy-rejected' }
  | { kind: 'hold'; reason: string; method?: number }
  | { kind: 'send'; level: TlsLevel; changes?: ContentChanges; method?: number; via: 'plain' | 'tls' | 'pgp' | 'smime' | 'portal' };

/** Whether a method can serve a recipient now; a reason when it cannot. */
export type MethodAvailability = (method: EncryptMethod, recipient: string) => string | null;

/** Without key stores (and until the portal exists) only verified TLS can carry an encrypt route. */
export const NO_METHODS_BUT_TLS: MethodAvailability = (method) => {
  switch (method) {
    case 'tls': return null;
    case 'pgp': return 'no OpenPGP key for the recipient';
    case 'smime': return 'no S/MIME certificate for the recipient';
    case 'portal': return 'the secure portal is not available on this gateway yet';
  }
};

/**
 * The plan for a recipient. `floor` is the destination's level from outbound.tls: a route may raise it, never
 * lower it. `from` is the encrypt method to start at; `notes` are reasons already gathered (a failed TLS attempt).
 */
export function planFor(route: Route | undefined, recipient: string, floor: TlsLevel, from: number, unavailable: MethodAvailability, notes: string[] = []): Plan {
  if (!route) return { kind: 'send', level: floor, via: 'plain' };
  switch (route.action) {
    case 'reject':
      return { kind: 'bounce', reply: `550 5.7.1 Refused by policy (rule ${route.rule}): ${route.reason ?? 'not allowed'}`, reason: 'policy-rejected' };
    case 'quarantine':
      return { kind: 'hold', reason: `held for review by rule ${route.rule}: ${route.reason ?? 'quarantine'}` };
    case 'deliver':
      return { kind: 'send', level: stronger(route.tls ?? 'none', floor), ...(route.changes ? { changes: route.changes } : {}), via: 'plain' };
    case 'encrypt': {
      const methods = route.methods ?? [];
      const why = [...notes];
      for (let i = from; i < methods.length; i++) {
        const m = methods[i]!;
        const no = unavailable(m, recipient);
        if (no) { why.push(no); continue; }
        const changes = route.changes ? { changes: route.changes } : {};
        if (m === 'tls') return { kind: 'send', level: 'verify', ...changes, method: i, via: 'tls' };
        // the message itself is encrypted: the transport needs no more than the destination's own level
        if (m === 'pgp' || m === 'smime') return { kind: 'send', level: floor, ...changes, method: i, via: m };
        // the message waits in the portal; only a notification (no PHI) is sent, at the destination's level
        return { kind: 'send', level: floor, ...changes, method: i, via: 'portal' };
      }
      return { kind: 'hold', reason: `no protected way to send (rule ${route.rule}): ${why.join('; ') || 'no methods listed'}`, method: methods.length };
    }
  }
}

/** A delivery failure that moves an encrypt route on to its next method instead of waiting for a retry. */
export function isTlsRequirementFailure(reason: string): boolean {
  return reason === 'tls-unavailable' || reason === 'tls-verify-failed';
}
