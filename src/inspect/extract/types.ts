// Owns what an extractor returns: text to scan, nested parts (archives, attached messages), or why not.
import type { Unscanned } from '../types.js';

export interface NestedPart { name: string; contentType: string; data: Buffer }

export type ExtractResult =
  /** truncated: the text was cut at a budget (rows or characters); the rest is reported as not scanned */
  | { kind: 'text'; text: string; truncated?: boolean }
  | { kind: 'nested'; parts: NestedPart[]; unscanned?: { name: string; reason: Unscanned['reason'] }[] }
  | { kind: 'message'; data: Buffer }
  | { kind: 'unscanned'; reason: Unscanned['reason'] };
