// Owns running an organisation's detectors (policies/detectors.yaml) over a text: compiled patterns, the
// optional context words before a match, masked samples.
import type { Hit } from './types.js';
import type { DetectorRole, OrgDetectorSpec } from './org-detectors.js';
import { maskTail } from './mask.js';

export interface CompiledOrgDetector extends OrgDetectorSpec { re: RegExp }

export function compileOrgDetectors(specs: OrgDetectorSpec[]): CompiledOrgDetector[] {
  return specs.map((s) => ({ ...s, re: new RegExp(s.pattern, 'g') }));
}

export function roleMap(specs: OrgDetectorSpec[]): Map<string, DetectorRole> {
  return new Map(specs.map((s) => [s.type, s.role]));
}

export function detectOrg(text: string, detectors: CompiledOrgDetector[]): Hit[] {
  const hits: Hit[] = [];
  for (const d of detectors) {
    d.re.lastIndex = 0;
    for (const m of text.matchAll(d.re)) {
      if (!m[0]) continue;
      if (d.context.length) {
        const before = text.slice(Math.max(0, m.index! - 40), m.index!).toLowerCase();
        if (!d.context.some((w) => before.includes(w))) continue;
      }
      hits.push({ type: d.type, index: m.index!, length: m[0].length, confidence: d.confidence, sample: maskTail(d.type.toUpperCase(), m[0]), key: `${d.type}:${m[0]}` });
    }
  }
  return hits;
}
