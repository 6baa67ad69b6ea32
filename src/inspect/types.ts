// Owns the inspect stage's own shapes (detector hits); the findings and verdict it hands on are the
// envelope's (src/envelope.ts), so the policy stage reads them without importing inspect.
import type { EntityType, ScanFacts } from '../envelope.js';

export { ENTITY_TYPES } from '../envelope.js';
export type { EntityType, Finding, Unscanned } from '../envelope.js';

/** One detector hit inside one text, before aggregation. `sample` is already masked. */
export interface Hit {
  type: EntityType | (string & {});
  index: number;
  length: number;
  confidence: number;
  sample: string;
  /** Normalised value, used only to count distinct values; never leaves the inspect stage. */
  key: string;
}

export type ScanResult = ScanFacts;
