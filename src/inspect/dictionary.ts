// Owns the medical dictionaries: dictionaries/{medications,conditions,procedures,clinical-services}.txt
// (and an organisation's extra words) compiled into one phrase trie, plus the known ICD-10-CM code list.
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PhraseTrie } from './phrase-trie.js';
import type { DetectorRole, OrgDetectors } from './org-detectors.js';
import { compileOrgDetectors, roleMap, type CompiledOrgDetector } from './org-run.js';

export type TermKind = 'condition' | 'medication' | 'procedure' | 'service';

export interface Term { kind: TermKind; canonical: string }

export interface Dictionaries {
  trie: PhraseTrie;
  terms: Term[];
  knownIcd10: Set<string>;
  counts: Record<TermKind, number>;
  /** the organisation's own detectors (policies/detectors.yaml), compiled */
  org: CompiledOrgDetector[];
  /** verdict role of each organisation type */
  orgRoles: Map<string, DetectorRole>;
}

export const DEFAULT_DICTIONARY_DIR = resolve(import.meta.dirname, '..', '..', '..', 'dictionaries');

const FILES: [TermKind, string][] = [
  ['medication', 'medications.txt'],
  ['condition', 'conditions.txt'],
  ['procedure', 'procedures.txt'],
  ['service', 'clinical-services.txt'],
];

/** Lines of a dictionary file: `canonical | variant | variant`, `#` comments. */
export function parseDictionary(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const variants = line.split('|').map((v) => v.trim().toLowerCase()).filter(Boolean);
    if (variants.length) out.push(variants);
  }
  return out;
}

export function buildDictionaries(sources: { kind: TermKind; lines: string[][] }[], icd10: string[]): Dictionaries {
  const trie = new PhraseTrie(1 << 17); // the shipped dictionaries need about 82,000 nodes: no regrowth
  const terms: Term[] = [];
  const counts: Record<TermKind, number> = { condition: 0, medication: 0, procedure: 0, service: 0 };
  for (const src of sources) {
    for (const variants of src.lines) {
      const id = terms.length;
      terms.push({ kind: src.kind, canonical: variants[0]! });
      counts[src.kind]++;
      for (const v of variants) trie.add(v, id);
    }
  }
  return { trie, terms, knownIcd10: new Set(icd10.map((c) => c.toUpperCase())), counts, org: [], orgRoles: new Map() };
}

/** The built-in dictionaries plus an organisation's words and detectors. */
export function withOrg(dir: string | undefined, org: OrgDetectors): Dictionaries {
  const extra = (['medication', 'condition', 'procedure'] as const).map((kind) => ({ kind, words: org.words[kind] }));
  const d = loadDictionaries(dir, extra);
  return { ...d, org: compileOrgDetectors(org.detectors), orgRoles: roleMap(org.detectors) };
}

export function loadDictionaries(dir: string = DEFAULT_DICTIONARY_DIR, extra: { kind: TermKind; words: string[] }[] = []): Dictionaries {
  const sources = FILES.filter(([, f]) => existsSync(join(dir, f))).map(([kind, f]) => ({ kind, lines: parseDictionary(readFileSync(join(dir, f), 'utf8')) }));
  for (const e of extra) sources.push({ kind: e.kind, lines: e.words.map((w) => [w.toLowerCase()]) });
  const icdFile = join(dir, 'icd10-common.txt');
  const icd = existsSync(icdFile) ? parseDictionary(readFileSync(icdFile, 'utf8')).map((v) => v[0]!.split(/\s/)[0]!.toUpperCase()) : [];
  return buildDictionaries(sources, icd);
}
