// Owns the analysis of one text unit (subject, a body part, an attachment's text): identifier hits,
// dictionary hits and the context signals, with the second-person sentences that mention health terms.
import type { Dictionaries, TermKind } from './dictionary.js';
import { detectIds } from './detect-ids.js';
import { readSignals, type Signals } from './signals.js';
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

const APPOINTMENT_WORD = /\b(?:appointment|appt|visit|consult(?:ation)?|session|admission|referral|scheduled|check-?in)\b/i;

const KIND_TYPE: Record<Exclude<TermKind, 'service'>, Hit['type']> = { condition: 'condition', medication: 'medication', procedure: 'procedure' };

export function analyzeUnit(u: UnitInput, dict: Dictionaries): UnitAnalysis {
  const hits = detectIds(u.text, { knownIcd10: dict.knownIcd10 });
  let services = 0;
  const healthAt: number[] = [];
  const serviceAt: number[] = [];
  for (const h of hits) if (h.type === 'icd10' || h.type === 'ndc') healthAt.push(h.index);
  dict.trie.scan(u.text, (m) => {
    const term = dict.terms[m.id]!;
    if (term.kind === 'service') { services++; serviceAt.push(m.index); return; }
    healthAt.push(m.index);
    hits.push({ type: KIND_TYPE[term.kind], index: m.index, length: m.length, confidence: 0.9, sample: maskTerm(term.canonical), key: `${term.kind}:${term.canonical}` });
  });
  const signals = readSignals(u.text, u.headers ?? { listUnsubscribe: false, precedenceBulk: false });
  // a clinical service counts as health information in a sentence about an appointment ("your cardiology
  // visit"), not in a clinic's name ("a balance with Riverside Family Medicine")
  const inSentence = (s: { start: number; end: number }) =>
    healthAt.some((i) => i >= s.start && i < s.end) ||
    (serviceAt.some((i) => i >= s.start && i < s.end) && APPOINTMENT_WORD.test(u.text.slice(s.start, s.end)));
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
