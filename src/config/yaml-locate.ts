// Owns YAML parsing with positions: turns a path inside a parsed document into a file:line:col location.
import { parseDocument, LineCounter, isMap, isSeq, isPair, isScalar, type Document, type Node } from 'yaml';
import type { FileProblem } from '../errors.js';

export interface LocatedDoc {
  file: string;
  doc: Document;
  lines: LineCounter;
}

export function parseYamlLocated(file: string, text: string): { located: LocatedDoc; problems: FileProblem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const problems: FileProblem[] = [...doc.errors, ...doc.warnings].map((e) => {
    const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
    return { file, line: pos.line, col: pos.col, message: e.message.split('\n')[0]! };
  });
  return { located: { file, doc, lines }, problems };
}

function posOf(ld: LocatedDoc, offset: number): { line: number; col: number } {
  return ld.lines.linePos(offset);
}

/**
 * Finds the node at `path` (keys and indexes). With `key` set, points at the key of that entry in the map at
 * `path` instead of its value. Falls back to the deepest existing ancestor.
 */
export function locate(ld: LocatedDoc, path: (string | number)[], key?: string): { line: number; col: number } {
  let node: unknown = ld.doc.contents;
  let last: { line: number; col: number } = { line: 1, col: 1 };
  const here = (n: unknown) => {
    const range = (n as Node | undefined)?.range;
    if (range) last = posOf(ld, range[0]);
  };
  here(node);
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return last;
      here(pair.key);
      node = pair.value;
      here(node);
    } else if (isSeq(node)) {
      node = node.items[Number(seg)];
      here(node);
    } else return last;
  }
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
    if (pair) here(pair.key);
  }
  return last;
}
