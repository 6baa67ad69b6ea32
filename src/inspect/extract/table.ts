// Owns reading tables (CSV, TSV, spreadsheet sheets) as labelled text: every row becomes "Header: value"
// pairs, so a column headed MRN, DOB or Member ID gives its values the context a detector needs.
import { parse } from 'csv-parse/sync';

const MAX_ROWS = 200_000;

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

export function rowsToLabelledText(rows: string[][]): string {
  if (rows.length < 2 || !looksLikeHeader(rows[0]!)) return rows.map((r) => r.join('\t')).join('\n');
  const header = rows[0]!.map((h) => h.trim());
  const out: string[] = [rows[0]!.join('\t')];
  for (const row of rows.slice(1, MAX_ROWS)) out.push(rowLine(row, header));
  return out.join('\n');
}

/**
 * CSV or TSV text as labelled lines; falls back to the text itself when it does not parse as a table. Rows
 * are turned into lines as they are parsed and not kept, so a 50 MB export costs its text, not its rows.
 */
export function delimitedToLabelledText(text: string): string {
  const firstLine = text.slice(0, text.indexOf('\n') >= 0 ? text.indexOf('\n') : text.length);
  const delimiter = (firstLine.match(/\t/g)?.length ?? 0) > (firstLine.match(/,/g)?.length ?? 0) ? '\t' : (firstLine.match(/;/g)?.length ?? 0) > (firstLine.match(/,/g)?.length ?? 0) ? ';' : ',';
  const out: string[] = [];
  let first: string[] | null = null;
  let header: string[] | null = null;
  let second: string[] | null = null;
  try {
    parse(text, {
      delimiter, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, bom: true, to: MAX_ROWS,
      on_record: (row: string[]) => {
        if (!first) { first = row; return null; }
        if (!second) {
          second = row;
          header = looksLikeHeader(first) ? first.map((h) => h.trim()) : null;
          out.push(first.join('\t'));
        }
        out.push(rowLine(row, header));
        return null; // keep nothing: the line above is all that is needed
      },
    });
  } catch {
    return text;
  }
  if (!second) return first ? (first as string[]).join('\t') : '';
  return out.join('\n');
}
