// Owns DOCX (mammoth) and XLSX (exceljs) text extraction.
import type { ExtractResult } from './types.js';
import { rowsToLabelledText } from './table.js';

// Loaded on first use: most messages have no Office attachment, and `phigate scan` must start fast.
const mammothLib = () => import('mammoth').then((m) => m.default ?? m);
const excelLib = () => import('exceljs').then((m) => (m as unknown as { default: typeof import('exceljs') }).default ?? m);

export async function docxText(data: Buffer, maxChars: number): Promise<ExtractResult> {
  try {
    const mammoth = await mammothLib();
    const r = await mammoth.extractRawText({ buffer: data });
    return { kind: 'text', text: r.value.slice(0, maxChars), ...(r.value.length > maxChars ? { truncated: true } : {}) };
  } catch {
    return { kind: 'unscanned', reason: 'unreadable' };
  }
}

export async function xlsxText(data: Buffer, maxChars: number): Promise<ExtractResult> {
  try {
    const ExcelJS = await excelLib();
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(data as unknown as ArrayBuffer);
    const sheets: string[] = [];
    let total = 0;
    let cut = false;
    wb.eachSheet((sheet) => {
      const rows: string[][] = [];
      sheet.eachRow({ includeEmpty: false }, (row) => {
        if (total > maxChars) return;
        const cells: string[] = [];
        row.eachCell({ includeEmpty: true }, (cell, col) => { cells[col - 1] = String(cell.text ?? ''); });
        total += cells.join('\t').length + 1;
        rows.push(Array.from(cells, (c) => c ?? ''));
      });
      const t = rowsToLabelledText(rows);
      if (t.truncated) cut = true;
      sheets.push(t.text);
    });
    const text = sheets.join('\n\n');
    return { kind: 'text', text: text.slice(0, maxChars), ...(cut || total > maxChars || text.length > maxChars ? { truncated: true } : {}) };
  } catch {
    return { kind: 'unscanned', reason: 'unreadable' };
  }
}
