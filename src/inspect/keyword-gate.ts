// Owns finding the matches of the keyword patterns (context words such as "MRN", "member ID", "unsubscribe",
// "her") in a long text with one pass over its characters instead of one regex pass per pattern. Each pattern
// names the openings its matches can start with; the pass notes every word boundary where an opening is, and
// only there is the pattern tried, anchored. Its matches are exactly those the pattern finds scanning the text.

/**
 * A case-insensitive pattern that starts with \b, and the openings of its matches, space-separated and
 * lowercase: `word` is a whole word (a non-word character or the end follows it), `word*` any text starting so.
 * Every match of `re` must begin with one of them; test/inspect/keyword-gate.test.ts checks the shipped ones.
 */
export interface Keyword {
  re: RegExp;
  openings: string;
}

// a regex word character (\w without the u flag): the regex's own notion of \b
const WORD = new Uint8Array(128);
for (let c = 0; c < 128; c++) WORD[c] = /\w/.test(String.fromCharCode(c)) ? 1 : 0;
const isWord = (c: number) => c < 128 && WORD[c] === 1;
/** ASCII lowercased; anything else 0 (no opening holds it) */
const lower = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c < 128 ? c : 0);

/** The keywords' matches in one text (from KeywordGate.scan). */
export class KeywordMatches {
  constructor(
    private readonly text: string,
    private readonly gate: KeywordGate,
    private readonly at: number[][],
  ) {}

  /** Whether the keyword's pattern matches anywhere (as `re.test(text)` would say). */
  test(k: Keyword): boolean {
    const { sticky, index } = this.gate.slot(k);
    for (const p of this.at[index]!) {
      sticky.lastIndex = p;
      if (sticky.test(this.text)) return true;
    }
    return false;
  }

  /** The keyword's matches in order, not overlapping (as `text.matchAll(re)` gives them). */
  *matchAll(k: Keyword): Generator<RegExpExecArray> {
    const { sticky, index } = this.gate.slot(k);
    let from = 0;
    for (const p of this.at[index]!) {
      if (p < from) continue;
      sticky.lastIndex = p;
      const m = sticky.exec(this.text);
      if (!m) continue;
      from = p + Math.max(1, m[0].length);
      yield m;
    }
  }
}

export class KeywordGate {
  private readonly index = new Map<Keyword, { sticky: RegExp; index: number }>();
  // a trie of the openings over lowercased ASCII: child per node and character, and per node the keywords
  // for which it ends an opening (as a whole word or as a prefix), one bit each
  private next: Int32Array;
  private whole: number[] = [0];
  private prefix: number[] = [0];
  /** per ASCII character: 1 a word character, 2 an opening starts with it (either case) */
  private readonly cls = Uint8Array.from(WORD);
  /** per first two characters (lowercased; 0 for none or non-ASCII), 1 when an opening can start with them */
  private readonly pairs = new Uint8Array(128 * 128);

  constructor(keywords: Keyword[]) {
    if (keywords.length > 31) throw new Error('at most 31 keywords per gate');
    this.next = new Int32Array(128 * 64).fill(-1);
    keywords.forEach((k, i) => {
      if (!k.re.source.startsWith('\\b') || !k.re.flags.includes('i') || k.re.flags.includes('u')) {
        throw new Error(`keyword pattern must start with \\b and be case-insensitive without u: /${k.re.source}/`);
      }
      this.index.set(k, { sticky: new RegExp(k.re.source, k.re.flags.replace('g', '') + 'y'), index: i });
      for (const o of k.openings.split(/\s+/).filter(Boolean)) this.add(o, i);
    });
  }

  private add(opening: string, bit: number): void {
    const isPrefix = opening.endsWith('*');
    const lit = isPrefix ? opening.slice(0, -1) : opening;
    if (!lit || lit !== lit.toLowerCase() || /[^\x20-\x7e]/.test(lit)) throw new Error(`bad keyword opening: ${opening}`);
    if (!isPrefix && !isWord(lit.charCodeAt(lit.length - 1))) throw new Error(`a whole-word opening must end in a word character: ${opening}`);
    // (openings are lower case; the text's upper-case ASCII letters are looked up as lower case)
    let node = 0;
    for (let i = 0; i < lit.length; i++) {
      const c = lit.charCodeAt(i);
      if (i === 0) {
        this.cls[c]! |= 2;
        if (c >= 97 && c <= 122) this.cls[c - 32]! |= 2;
        if (lit.length === 1) this.pairs.fill(1, c * 128, c * 128 + 128);
        else this.pairs[c * 128 + lit.charCodeAt(1)] = 1;
      }
      let child = this.next[node * 128 + c]!;
      if (child < 0) {
        child = this.whole.length;
        this.whole.push(0);
        this.prefix.push(0);
        if ((child + 1) * 128 > this.next.length) {
          const grown = new Int32Array(this.next.length * 2).fill(-1);
          grown.set(this.next);
          this.next = grown;
        }
        this.next[node * 128 + c] = child;
      }
      node = child;
    }
    if (isPrefix) this.prefix[node]! |= 1 << bit;
    else this.whole[node]! |= 1 << bit;
  }

  /** @internal the anchored pattern and slot of a keyword */
  slot(k: Keyword): { sticky: RegExp; index: number } {
    const s = this.index.get(k);
    if (!s) throw new Error(`keyword not in this gate: /${k.re.source}/`);
    return s;
  }

  /** One pass over `text`: where each keyword's openings are, at word boundaries. */
  scan(text: string): KeywordMatches {
    const at: number[][] = Array.from({ length: this.index.size }, () => []);
    const n = text.length;
    const cls = this.cls;
    const pairs = this.pairs;
    let prev = 0; // 1 after a word character
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      const f = c < 128 ? cls[c]! : 0;
      // \b holds at i when the word-ness of i and i-1 differ
      if ((f & 1) !== prev) {
        prev = f & 1;
        if (f & 2 && pairs[lower(c) * 128 + lower(i + 1 < n ? text.charCodeAt(i + 1) : 0)] === 1) {
          const mask = this.openingsAt(text, i);
          if (mask) for (let b = 0; b < at.length; b++) if (mask & (1 << b)) at[b]!.push(i);
        }
      }
    }
    return new KeywordMatches(text, this, at);
  }

  /** The keywords (bits) with an opening at i. */
  private openingsAt(text: string, i: number): number {
    const n = text.length;
    let node = 0;
    let mask = 0;
    for (let k = i; k < n; k++) {
      let c = text.charCodeAt(k);
      if (c >= 128) break;
      if (c >= 65 && c <= 90) c += 32;
      node = this.next[node * 128 + c]!;
      if (node < 0) break;
      mask |= this.prefix[node]!;
      if (this.whole[node] && (k + 1 >= n || !isWord(text.charCodeAt(k + 1)))) mask |= this.whole[node]!;
    }
    return mask;
  }
}
