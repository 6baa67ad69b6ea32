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
}

export interface UnitInput {
  where: string;
  text: string;
  headers?: { listUnsubscribe: boolean; precedenceBulk: boolean };
}

const KIND_TYPE: Record<Exclude<TermKind, 'service'>, Hit['type']> = { condition: 'condition', medication: 'medication', procedure: 'procedure' };

export function analyzeUnit(u: UnitInput, dict: Dictionaries): UnitAnalysis {
  const hits = detectIds(u.text, { knownIcd10: dict.knownIcd10 });
  let services = 0;
  const healthAt: number[] = [];
  for (const h of hits) if (h.type === 'icd10' || h.type === 'ndc') healthAt.push(h.index);
  dict.trie.scan(u.text, (m) => {
    const term = dict.terms[m.id]!;
    healthAt.push(m.index);
    if (term.kind === 'service') { services++; return; }
    hits.push({ type: KIND_TYPE[term.kind], index: m.index, length: m.length, confidence: 0.9, sample: maskTerm(term.canonical), key: `${term.kind}:${term.canonical}` });
  });
  const signals = readSignals(u.text, u.headers ?? { listUnsubscribe: false, precedenceBulk: false });
  let ownHealth: UnitAnalysis['ownHealth'] = null;
  for (const s of signals.secondPerson) {
    if (healthAt.some((i) => i >= s.start && i < s.end)) {
      if (s.specific) { ownHealth = { specific: true }; break; }
      ownHealth ??= { specific: false };
    }
  }
  return { where: u.where, hits, services, signals, ownHealth };
}
