// Owns the shape of a loaded policy set: compiled rules in evaluation order, the version hash, and the built-in
// route used when no rule matches (HIPAA-safe: possible PHI leaves only over verified TLS or encrypted).
import type { Route } from '../envelope.js';
import type { Check } from './conditions.js';

export interface CompiledRule {
  id: string;
  description: string;
  file: string;
  line: number;
  col: number;
  /** the rule's `when` as written, for shadowing checks */
  when: Record<string, unknown>;
  checks: Check[];
  route: Route;
  notify?: { to: string[]; text?: string };
}

export interface PolicySet {
  /** sha256 of every policy and list file (names and bytes), short form */
  version: string;
  rules: CompiledRule[];
  files: string[];
  lists: string[];
  loadedAt: number;
}

export const DEFAULT_RULE_ID = 'built-in-default';

/** The route when no rule matches: what the shipped policy would do if it were empty. */
export function defaultRoute(possiblePhi: boolean): Route {
  return possiblePhi
    ? { rule: DEFAULT_RULE_ID, action: 'encrypt', methods: ['tls', 'pgp', 'smime', 'portal'] }
    : { rule: DEFAULT_RULE_ID, action: 'deliver' }; // the destination's outbound.tls level, as configured
}

export const EMPTY_POLICY_SET: PolicySet = { version: 'none', rules: [], files: [], lists: [], loadedAt: 0 };
