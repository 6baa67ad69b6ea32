// Owns the shapes the inspect stage produces: findings (types, counts, where, confidence, masked sample),
// unscanned parts, and the message verdict. Never the matched text itself.

export const ENTITY_TYPES = [
  'ssn', 'mbi', 'npi', 'dea', 'mrn', 'health_plan_id', 'dob', 'icd10', 'ndc', 'condition', 'medication', 'procedure',
] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

/** One detector hit inside one text, before aggregation. `sample` is already masked. */
export interface Hit {
  type: EntityType;
  index: number;
  length: number;
  confidence: number;
  sample: string;
  /** Normalised value, used only to count distinct values; never leaves the inspect stage. */
  key: string;
}

export interface Finding {
  type: EntityType;
  where: string;
  count: number;
  confidence: number;
  sample: string;
}

export interface Unscanned {
  where: string;
  reason: 'image' | 'encrypted' | 'unknown-binary' | 'too-large' | 'too-deep' | 'zip-bomb' | 'unreadable' | 'audio-video';
}

export interface ScanResult {
  phi: boolean;
  score: number;
  /** Why the verdict is what it is: short codes such as health-identifier, person+health, addressed-individual, scan-failed. */
  reasons: string[];
  findings: Finding[];
  unscanned: Unscanned[];
  scanMs: number;
  bytesScanned: number;
}
