// Owns fast dictionary matching: a trie over a small alphabet (a-z, 0-9, space, - ' . /), walked only from
// word starts, case-insensitive, whitespace runs folded to one space, matches only on word boundaries.
// No allocation per character; a text is scanned once whatever the dictionary size.

const SYMBOLS = 41; // 26 letters, 10 digits, space, '-', '\'', '.', '/'

// ASCII lookup tables: symbol per code (-1 none) and word-character flags
const SYM = new Int8Array(128).fill(-1);
const WORD = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  SYM[c] = slowSymbolOf(c);
  WORD[c] = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ? 1 : 0;
}

function symbolOf(code: number): number {
  return code < 128 ? SYM[code]! : slowSymbolOf(code);
}

function slowSymbolOf(code: number): number {
  if (code >= 97 && code <= 122) return code - 97;
  if (code >= 65 && code <= 90) return code - 65;
  if (code >= 48 && code <= 57) return 26 + code - 48;
  switch (code) {
    case 32: case 9: case 10: case 13: case 160: return 36;
    case 45: case 0x2010: case 0x2011: return 37;
    case 39: case 0x2019: return 38;
    case 46: return 39;
    case 47: return 40;
    default: return -1;
  }
}

function isWordChar(code: number): boolean {
  if (code < 128) return WORD[code] === 1;
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code >= 0xc0 && code !== 0x2019 && code !== 0x2010 && code !== 0x2011 && code !== 160 && code < 0x2000;
}

export interface PhraseMatch {
  /** the id given to the phrase when it was added */
  id: number;
  index: number;
  length: number;
}

export class PhraseTrie {
  private next: Int32Array;
  private terminal: Int32Array;
  private nodes = 1;

  constructor(capacity = 1024) {
    this.next = new Int32Array(capacity * SYMBOLS).fill(-1);
    this.terminal = new Int32Array(capacity).fill(-1);
  }

  get size(): number {
    return this.nodes;
  }

  private grow(): void {
    const cap = this.terminal.length * 2;
    const n = new Int32Array(cap * SYMBOLS).fill(-1);
    n.set(this.next);
    this.next = n;
    const t = new Int32Array(cap).fill(-1);
    t.set(this.terminal);
    this.terminal = t;
  }

  /** Adds a phrase; returns false when it holds a character outside the alphabet. Later ids win on duplicates. */
  add(phrase: string, id: number): boolean {
    const p = phrase.trim().replace(/\s+/g, ' ');
    if (!p) return false;
    let node = 0;
    for (let i = 0; i < p.length; i++) {
      const s = symbolOf(p.charCodeAt(i));
      if (s < 0) return false;
      const slot = node * SYMBOLS + s;
      let child = this.next[slot]!;
      if (child < 0) {
        if (this.nodes >= this.terminal.length) this.grow();
        child = this.nodes++;
        this.next[slot] = child;
      }
      node = child;
    }
    this.terminal[node] = id;
    return true;
  }

  /** Every longest match starting at a word start; a match must end at a word boundary. */
  scan(text: string, onMatch: (m: PhraseMatch) => void): void {
    const n = text.length;
    const next = this.next;
    const terminal = this.terminal;
    const sym = SYM;
    const word = WORD;
    let i = 0;
    while (i < n) {
      let c = text.charCodeAt(i);
      if (c < 128 ? word[c] === 0 : !isWordChar(c)) { i++; continue; }
      // at a word start: walk the trie
      let node = 0;
      let j = i;
      let bestEnd = -1;
      let bestId = -1;
      let wordEnd = -1; // where the walk first stepped past this word's characters (-1: not yet)
      while (j < n) {
        c = text.charCodeAt(j);
        const s = c < 128 ? sym[c]! : slowSymbolOf(c);
        if (s < 0) break;
        const child = next[node * SYMBOLS + s]!;
        if (child < 0) break;
        node = child;
        if (s >= 36 && wordEnd < 0) wordEnd = j;
        j++;
        if (s === 36) while (j < n && symbolOf(text.charCodeAt(j)) === 36) j++;
        const t = terminal[node]!;
        if (t >= 0) {
          const after = j < n ? text.charCodeAt(j) : 32;
          if (after < 128 ? word[after] === 0 : !isWordChar(after)) { bestEnd = j; bestId = t; }
        }
      }
      if (bestId >= 0) {
        onMatch({ id: bestId, index: i, length: bestEnd - i });
        i = bestEnd;
        continue;
      }
      // skip the rest of this word (the characters the walk read as letters or digits are in it)
      i = wordEnd < 0 ? j : wordEnd;
      while (i < n) {
        c = text.charCodeAt(i);
        if (c < 128 ? word[c] === 0 : !isWordChar(c)) break;
        i++;
      }
    }
  }
}
