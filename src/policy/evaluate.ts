// Owns policy evaluation: a pure function from a message and a policy set to one decision per recipient. The
// first rule whose conditions all hold decides; with `explain`, the earlier rules that did not match say why.
import type { Route } from '../envelope.js';
import type { PolicyMessage } from './conditions.js';
import { defaultRoute, DEFAULT_RULE_ID, type CompiledRule, type PolicySet } from './rule-set.js';

export interface RuleRef { id: string; description: string; file: string | null; line: number | null }

export interface Decision {
  recipient: string;
  rule: RuleRef;
  route: Route;
  /** why each condition of the deciding rule held */
  matched: string[];
  /** finding types the rule's findings condition matched (or the message's types for a phi condition) */
  types: string[];
  notify?: { to: string[]; text?: string };
  /** with explain: earlier rules and the first condition that failed */
  notMatched?: { rule: RuleRef; why: string }[];
}

const ref = (r: CompiledRule): RuleRef => ({ id: r.id, description: r.description, file: r.file, line: r.line });

/** Whether a message counts as possible PHI when no rule says otherwise: PHI, a failed scan, or unreadable parts. */
export function possiblePhi(m: PolicyMessage): boolean {
  return m.scan.phi || m.scan.reasons.includes('scan-failed') || m.scan.unscanned.length > 0;
}

/** The methods a message whose scan failed must use, whatever a `deliver` rule says (fail closed). */
export const FAIL_SAFE_METHODS = ['tls', 'pgp', 'smime', 'portal'] as const;

/** A failed scan may hold anything: a plain `deliver` route becomes the protected methods. */
function failSafe(d: Decision, m: PolicyMessage): Decision {
  if (d.route.action !== 'deliver' || !m.scan.reasons.includes('scan-failed')) return d;
  const { tls: _t, ...rest } = d.route;
  return { ...d, route: { ...rest, action: 'encrypt', methods: [...FAIL_SAFE_METHODS] }, matched: [...d.matched, 'the scan failed: sent only protected (verified TLS, PGP, S/MIME or the portal)'] };
}

export function evaluate(set: PolicySet, m: PolicyMessage, recipients: string[], opts: { explain?: boolean } = {}): Decision[] {
  return decideAll(set, m, recipients, opts).map((d) => failSafe(d, m));
}

/**
 * Whether policy might refuse `recipient` whatever the scan finds. The rules are walked with only the conditions
 * that need no scan (sender, recipient, subject, headers, size): a rule that would then surely match decides; one
 * that might match (it also has scan conditions) counts when it rejects, and otherwise the walk goes on past it.
 * `m.scan` is never read. The pipeline scans before the DATA reply when this holds for every recipient, so a
 * 550 for a message that policy refuses outright is never missed.
 */
export function mayRefuse(set: PolicySet, m: PolicyMessage, recipient: string): boolean {
  for (const rule of set.rules) {
    let fails = false;
    let needsScan = false;
    for (const c of rule.checks) {
      if (c.readsScan) { needsScan = true; continue; }
      if (!c.test(m, recipient).ok) { fails = true; break; }
    }
    if (fails) continue;
    if (rule.route.action === 'reject') return true;
    if (!needsScan) return false;
  }
  return false; // the default route never refuses
}

function decideAll(set: PolicySet, m: PolicyMessage, recipients: string[], opts: { explain?: boolean }): Decision[] {
  const messageTypes = [...new Set(m.scan.findings.map((f) => f.type))].sort();
  return recipients.map((recipient) => {
    const notMatched: { rule: RuleRef; why: string }[] = [];
    for (const rule of set.rules) {
      const matched: string[] = [];
      const types = new Set<string>();
      let failed: string | null = null;
      for (const c of rule.checks) {
        const r = c.test(m, recipient);
        if (!r.ok) { failed = r.why; break; }
        matched.push(r.why);
        r.types?.forEach((t) => types.add(t));
        if (c.key === 'phi') messageTypes.forEach((t) => types.add(t));
      }
      if (failed !== null) {
        if (opts.explain) notMatched.push({ rule: ref(rule), why: failed });
        continue;
      }
      return {
        recipient, rule: ref(rule), route: rule.route, matched: matched.length ? matched : ['no conditions: matches every message'],
        types: [...types].sort(), ...(rule.notify ? { notify: rule.notify } : {}), ...(opts.explain ? { notMatched } : {}),
      };
    }
    const phi = possiblePhi(m);
    return {
      recipient,
      rule: { id: DEFAULT_RULE_ID, description: 'no rule matched: possible PHI leaves only protected, other mail with opportunistic TLS', file: null, line: null },
      route: defaultRoute(phi),
      matched: [phi ? 'the message may hold PHI' : 'the message holds no PHI'],
      types: messageTypes,
      ...(opts.explain ? { notMatched } : {}),
    };
  });
}
