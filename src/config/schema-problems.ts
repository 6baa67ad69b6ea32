// Owns turning JSON-schema (ajv) errors into located `file:line:col message` problems, with a "did you mean"
// for a misspelt key. Shared by the config loader and the policy loader.
import type { ErrorObject } from 'ajv';
import type { FileProblem } from '../errors.js';
import { locate, type LocatedDoc } from './yaml-locate.js';

/** Levenshtein distance, small inputs only (key names). */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest known word to a misspelt one, when it is close enough to be a likely typo. */
export function didYouMean(word: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const k of known) {
    const d = distance(w, k.toLowerCase());
    if (d < bestD) { bestD = d; best = k; }
  }
  return best !== null && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : null;
}

function describe(e: ErrorObject): string {
  const at = e.instancePath.split('/').filter(Boolean).pop() ?? 'file';
  const sch = e.parentSchema as { description?: string } | undefined;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
      const guess = didYouMean(key, allowed);
      return `unknown key "${key}"` + (guess ? `; did you mean "${guess}"?` : '') + (allowed.length ? ` (expected one of: ${allowed.join(', ')})` : '');
    }
    case 'required': {
      const where = e.instancePath.split('/').filter(Boolean).join('.');
      return `missing required key "${(e.params as { missingProperty: string }).missingProperty}"${where ? ` in "${where}"` : ''}`;
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      const guess = typeof e.data === 'string' ? didYouMean(e.data, allowed) : null;
      return `"${at}" must be one of: ${allowed.join(', ')}` + (guess ? `; did you mean "${guess}"?` : '');
    }
    case 'pattern':
      return `"${at}" must be ${sch?.description ?? `a string matching ${(e.params as { pattern: string }).pattern}`}`;
    case 'type':
      return `"${at}" must be ${sch?.description ?? [(e.params as { type: string | string[] }).type].flat().join(' or ')}`;
    case 'minItems':
      return `"${at}" must list at least ${(e.params as { limit: number }).limit}`;
    case 'minProperties':
      return `"${at}" must not be empty`;
    default:
      return `"${at}" ${e.message ?? 'is invalid'}`;
  }
}

export function schemaProblems(ld: LocatedDoc, errors: ErrorObject[]): FileProblem[] {
  const seen = new Set<string>();
  const out: FileProblem[] = [];
  for (const e of errors) {
    const path = e.instancePath.split('/').filter(Boolean).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const extra = e.keyword === 'additionalProperties' ? (e.params as { additionalProperty: string }).additionalProperty : undefined;
    const pos = locate(ld, path, extra);
    const message = describe(e);
    const k = `${pos.line}:${pos.col}:${message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ file: ld.file, line: pos.line, col: pos.col, message });
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}
