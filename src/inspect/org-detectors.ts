// Owns an organisation's own detectors, kept in policies/detectors.yaml: patterns for its MRN or employee-id
// formats (with optional context words) and extra dictionary words. Validated with file:line:col problems;
// the gateway reloads them with the policies, the scanner compiles them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseYamlLocated, locate, type LocatedDoc } from '../config/yaml-locate.js';
import type { FileProblem } from '../errors.js';
import { ENTITY_TYPES, type EntityType } from '../envelope.js';

export const DETECTORS_FILE = 'detectors.yaml';

/** What a custom (non-built-in) type counts as in the verdict. */
export type DetectorRole = 'health-identifier' | 'person-identifier' | 'health-information' | 'none';

export interface OrgDetectorSpec {
  id: string;
  type: string;
  role: DetectorRole;
  pattern: string;
  context: string[];
  confidence: number;
}

export interface OrgDetectors {
  detectors: OrgDetectorSpec[];
  words: { medication: string[]; condition: string[]; procedure: string[] };
}

export const NO_ORG_DETECTORS: OrgDetectors = { detectors: [], words: { medication: [], condition: [], procedure: [] } };

const ROLE_OF_BUILTIN: Record<EntityType, DetectorRole> = {
  ssn: 'person-identifier', dob: 'person-identifier', mbi: 'health-identifier', mrn: 'health-identifier',
  health_plan_id: 'health-identifier', npi: 'none', dea: 'none', icd10: 'health-information', ndc: 'health-information',
  condition: 'health-information', medication: 'health-information', procedure: 'health-information',
};

const ROLES: DetectorRole[] = ['health-identifier', 'person-identifier', 'health-information', 'none'];
const DETECTOR_KEYS = ['id', 'type', 'role', 'pattern', 'context', 'confidence', 'description'];

/** Reads and validates policies/detectors.yaml; a missing file means no organisation detectors. */
export function loadOrgDetectors(policiesDir: string): { detectors: OrgDetectors; problems: FileProblem[] } {
  const file = join(policiesDir, DETECTORS_FILE);
  if (!existsSync(file)) return { detectors: NO_ORG_DETECTORS, problems: [] };
  return parseOrgDetectors(file, readFileSync(file, 'utf8'));
}

export function parseOrgDetectors(file: string, text: string): { detectors: OrgDetectors; problems: FileProblem[] } {
  const { located, problems } = parseYamlLocated(file, text);
  if (problems.length) return { detectors: NO_ORG_DETECTORS, problems };
  const raw = (located.doc.toJS() ?? {}) as Record<string, unknown>;
  const out: OrgDetectors = { detectors: [], words: { medication: [], condition: [], procedure: [] } };
  const at = (path: (string | number)[], message: string, key?: string) => {
    const p = locate(located, path, key);
    problems.push({ file, line: p.line, col: p.col, message });
  };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    at([], 'expected a mapping with "detectors" and/or "words"');
    return { detectors: NO_ORG_DETECTORS, problems };
  }
  for (const k of Object.keys(raw)) if (k !== 'detectors' && k !== 'words') at([], `unknown key "${k}"; expected detectors or words`, k);
  const list = raw['detectors'] ?? [];
  if (!Array.isArray(list)) at(['detectors'], '"detectors" must be a list');
  else list.forEach((d: unknown, i: number) => checkDetector(located, d, i, at, out));
  const words = raw['words'] ?? {};
  if (typeof words !== 'object' || Array.isArray(words) || words === null) at(['words'], '"words" must map medication, condition, procedure to lists of words');
  else {
    for (const [k, v] of Object.entries(words as Record<string, unknown>)) {
      if (k !== 'medication' && k !== 'condition' && k !== 'procedure') { at(['words'], `unknown key "${k}"; expected medication, condition or procedure`, k); continue; }
      if (!Array.isArray(v) || !v.every((w) => typeof w === 'string' && w.trim())) { at(['words', k], `"${k}" must be a list of words or phrases`); continue; }
      out.words[k] = v.map((w: string) => w.trim().toLowerCase());
    }
  }
  return { detectors: problems.length ? NO_ORG_DETECTORS : out, problems };
}

function checkDetector(ld: LocatedDoc, d: unknown, i: number, at: (p: (string | number)[], m: string, k?: string) => void, out: OrgDetectors): void {
  const path = ['detectors', i];
  if (!d || typeof d !== 'object' || Array.isArray(d)) return at(path, 'a detector must be a mapping with id, type and pattern');
  const o = d as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!DETECTOR_KEYS.includes(k)) at(path, `unknown key "${k}"; expected one of: ${DETECTOR_KEYS.join(', ')}`, k);
  const id = o['id'];
  if (typeof id !== 'string' || !/^[a-z0-9][a-z0-9_-]*$/.test(id)) at([...path, 'id'], '"id" must be a lowercase name such as lakeview-mrn');
  const type = o['type'];
  if (typeof type !== 'string' || !/^[a-z][a-z0-9_]*$/.test(type)) at([...path, 'type'], `"type" must be an entity type (${ENTITY_TYPES.join(', ')}) or a lowercase name of your own such as employee_id`);
  const builtin = (ENTITY_TYPES as readonly string[]).includes(String(type));
  const role = o['role'] ?? (builtin ? ROLE_OF_BUILTIN[type as EntityType] : 'none');
  if (!ROLES.includes(role as DetectorRole)) at([...path, 'role'], `"role" must be one of: ${ROLES.join(', ')}`);
  if (builtin && o['role'] !== undefined && o['role'] !== ROLE_OF_BUILTIN[type as EntityType]) at([...path, 'role'], `"${String(type)}" is a built-in type; its role is ${ROLE_OF_BUILTIN[type as EntityType]}`);
  const pattern = o['pattern'];
  if (typeof pattern !== 'string' || !pattern) at([...path, 'pattern'], '"pattern" must be a regular expression');
  else {
    try {
      const re = new RegExp(pattern, 'g');
      if (re.test('')) at([...path, 'pattern'], '"pattern" matches the empty string');
    } catch (e) {
      at([...path, 'pattern'], `"pattern" is not a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
    }
  }
  const context = o['context'] ?? [];
  if (!Array.isArray(context) || !context.every((w) => typeof w === 'string' && w.trim())) at([...path, 'context'], '"context" must be a list of words');
  const confidence = o['confidence'] ?? 0.9;
  if (typeof confidence !== 'number' || confidence <= 0 || confidence > 1) at([...path, 'confidence'], '"confidence" must be a number above 0 and at most 1');
  void ld;
  out.detectors.push({
    id: String(id), type: String(type), role: role as DetectorRole, pattern: String(pattern),
    context: (Array.isArray(context) ? context : []).map((w) => String(w).toLowerCase()), confidence: Number(confidence),
  });
}
