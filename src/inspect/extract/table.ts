// Owns reading tables (CSV, TSV, spreadsheet sheets) as labelled text: every row becomes "Header: value"
// pairs, so a column headed MRN, DOB or Member ID gives its values the context a detector needs.
import { parse } from 'csv-parse/sync';

const MAX_ROWS = 200_000;
const BLOCK_LINES = 4096;

function looksLikeHeader(cells: string[]): boolean {
  const filled = cells.filter((c) => c.trim());
  if (filled.length < 2) return false;
  const wordy = filled.filter((c) => /^[\p{L}][\p{L}\s#./()_-]{0,40}$/u.test(c.trim()));
  return wordy.length >= Math.ceil(filled.length * 0.6);
}

/** One row as labelled text ("MRN: 123; DOB: 01/02/1960"), or tab-joined when there is no header. */
function rowLine(row: string[], header: string[] | null): string {
  if (!header) return row.join('\t');
  const pairs: string[] = [];
  row.forEach((v, i) => { const t = v.trim(); if (t) pairs.push(`${header[i] || `col${i + 1}`}: ${t}`); });
  return pairs.join('; ');
}

/** A table's rows as labelled text; `truncated` when it has more rows than are read (MAX_ROWS). */
export function rowsToLabelledText(rows: string[][]): { text: string; truncated: boolean } {
  const truncated = rows.length > MAX_ROWS;
  if (rows.length < 2 || !looksLikeHeader(rows[0]!)) return { text: rows.slice(0, MAX_ROWS).map((r) => r.join('\t')).join('\n'), truncated };
  const header = rows[0]!.map((h) => h.trim());
  const out: string[] = [rows[0]!.join('\t')];
  for (const row of rows.slice(1, MAX_ROWS)) out.push(rowLine(row, header));
  return { text: out.join('\n'), truncated };
}

/**
 * CSV or TSV text as labelled lines; falls back to the text itself when it does not parse as a table. Rows
 * are turned into lines as they are parsed and not kept, so a 50 MB export costs its text, not its rows.
 * The input may be the table's UTF-8 bytes instead of its text (see utf8TableBytes): the parser reads
 * bytes either way (it encodes a string first), so the bytes spare that copy and the decoded text, and the
 * text is only made when the fallback needs it.
 */
export function delimitedToLabelledText(input: string | Buffer): { text: string; truncated: boolean } {
  const nl = input.indexOf('\n');
  const firstLine = typeof input === 'string' ? input.slice(0, nl >= 0 ? nl : input.length) : input.toString('utf8', 0, nl >= 0 ? nl : input.length);
  const delimiter = (firstLine.match(/\t/g)?.length ?? 0) > (firstLine.match(/,/g)?.length ?? 0) ? '\t' : (firstLine.match(/;/g)?.length ?? 0) > (firstLine.match(/,/g)?.length ?? 0) ? ';' : ',';
  // lines are joined a block at a time: a line dies young instead of waiting, with 200,000 others, for the
  // final join (the result is out.join('\n') all the same: no block is empty)
  const blocks: string[] = [];
  let out: string[] = [];
  const add = (line: string) => {
    out.push(line);
    if (out.length === BLOCK_LINES) { blocks.push(out.join('\n')); out = []; }
  };
  let rowsSeen = 0;
  let first: string[] | null = null;
  let header: string[] | null = null;
  let second: string[] | null = null;
  try {
    parse(input, {
      delimiter, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, bom: true, to: MAX_ROWS,
      on_record: (row: string[]) => {
        rowsSeen++;
        if (!first) { first = row; return null; }
        if (!second) {
          second = row;
          header = looksLikeHeader(first) ? first.map((h) => h.trim()) : null;
          add(first.join('\t'));
        }
        add(rowLine(row, header));
        return null; // keep nothing: the line above is all that is needed
      },
    });
  } catch {
    return { text: typeof input === 'string' ? input : input.toString('utf8'), truncated: false };
  }
  // the parser stops at MAX_ROWS: a table that filled them has (or may have) rows that were not read
  const truncated = rowsSeen >= MAX_ROWS;
  if (!second) return { text: first ? (first as string[]).join('\t') : '', truncated };
  if (out.length) blocks.push(out.join('\n'));
  return { text: blocks.join('\n'), truncated };
}

/**
 * The bytes themselves when parsing them gives what parsing their decoded text would, else null. That holds
 * for UTF-8 within the character budget: the parser splits on ASCII bytes only, which UTF-8 never uses
 * inside a character and which end any invalid sequence, so a field decodes to the same characters alone as
 * in the whole text (invalid bytes too, as the same U+FFFD); the text is no longer than its bytes, so the
 * budget would not have cut it. Not when the bytes open with FF FE: decoded, those are two U+FFFD, but as
 * bytes the parser would take them for a UTF-16 byte order mark.
 */
export function utf8TableBytes(data: Buffer, utf8: boolean, maxChars: number): Buffer | null {
  return utf8 && data.length <= maxChars && !(data[0] === 0xff && data[1] === 0xfe) ? data : null;
}
