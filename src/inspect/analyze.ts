// Owns the analysis of one text unit (subject, a body part, an attachment's text): identifier hits,
// dictionary hits and the context signals, with the second-person sentences that mention health terms.
import type { Dictionaries, TermKind } from './dictionary.js';
import { detectIds, ID_KEYWORDS } from './detect-ids.js';
import { KeywordGate } from './keyword-gate.js';
import { detectOrg } from './org-run.js';
import { readSignals, SIGNAL_KEYWORDS, type Signals } from './signals.js';
import { maskTerm } from './mask.js';
import type { Hit } from './types.js';

export interface UnitAnalysis {
  where: string;
  hits: Hit[];
  /** clinical-service phrases (cardiology, infusion...) found: they make an appointment clinical */
  services: number;
  signals: Signals;
  /** a second-person sentence that names a health term */
  ownHealth: { specific: boolean } | null;
  /** a third-person sentence ("his inhaler") that names a health term */
  otherHealth: boolean;
}

export interface UnitInput {
  where: string;
  text: string;
  headers?: { listUnsubscribe: boolean; precedenceBulk: boolean };
}

/** Whether the sorted positions hold one in [start, end): a binary search, not a scan. */
function anyIn(sorted: number[], start: number, end: number): boolean {
  let lo = 0, hi = sorted.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid]! < start) lo = mid + 1; else hi = mid; }
  return lo < sorted.length && sorted[lo]! < end;
}

const APPOINTMENT_WORD = /\b(?:appointment|appt|visit|consult(?:ation)?|session|admission|referral|scheduled|check-?in)\b/i;

const KIND_TYPE: Record<Exclude<TermKind, 'service'>, Hit['type']> = { condition: 'condition', medication: 'medication', procedure: 'procedure' };

// the context words of the identifier detectors and of the signals, found in one pass over each text
const KEYWORDS = new KeywordGate([...ID_KEYWORDS, ...SIGNAL_KEYWORDS]);

export function analyzeUnit(u: UnitInput, dict: Dictionaries): UnitAnalysis {
  const found = KEYWORDS.scan(u.text);
  const hits = detectIds(u.text, { knownIcd10: dict.knownIcd10 }, found);
  if (dict.org.length) hits.push(...detectOrg(u.text, dict.org));
  let services = 0;
  const healthAt: number[] = [];
  const serviceAt: number[] = [];
  for (const h of hits) if (h.type === 'icd10' || h.type === 'ndc' || dict.orgRoles.get(h.type) === 'health-information') healthAt.push(h.index);
  // one hit per distinct term (findings count distinct values); every position still counts for context
  const firstAt = new Map<number, { index: number; length: number }>();
  dict.trie.scan(u.text, (m) => {
    const term = dict.terms[m.id]!;
    if (term.kind === 'service') { services++; serviceAt.push(m.index); return; }
    healthAt.push(m.index);
    if (!firstAt.has(m.id)) firstAt.set(m.id, { index: m.index, length: m.length });
  });
  for (const [id, at] of firstAt) {
    const term = dict.terms[id]!;
    hits.push({ type: KIND_TYPE[term.kind as Exclude<TermKind, 'service'>], index: at.index, length: at.length, confidence: 0.9, sample: maskTerm(term.canonical), key: `${term.kind}:${term.canonical}` });
  }
  const signals = readSignals(u.text, u.headers ?? { listUnsubscribe: false, precedenceBulk: false }, found);
  // a clinical service counts as health information in a sentence about an appointment ("your cardiology
  // visit"), not in a clinic's name ("a balance with Riverside Family Medicine")
  healthAt.sort((a, b) => a - b);
  const inSentence = (s: { start: number; end: number }) =>
    anyIn(healthAt, s.start, s.end) || (anyIn(serviceAt, s.start, s.end) && APPOINTMENT_WORD.test(u.text.slice(s.start, s.end)));
  let ownHealth: UnitAnalysis['ownHealth'] = null;
  for (const s of signals.secondPerson) {
    if (inSentence(s)) {
      if (s.specific) { ownHealth = { specific: true }; break; }
      ownHealth ??= { specific: false };
    }
  }
  const otherHealth = signals.thirdPerson.some(inSentence);
  return { where: u.where, hits, services, signals, ownHealth, otherHealth };
}
