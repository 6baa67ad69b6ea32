// Owns PDF text extraction (pdf.js, text layer only). Encrypted PDFs and PDFs without a text layer are
// reported as unscannable, never guessed at.
import type { ExtractResult } from './types.js';

type PdfJs = typeof import('pdfjs-dist');
let pdfjs: Promise<PdfJs> | null = null;

function load(): Promise<PdfJs> {
  pdfjs ??= import('pdfjs-dist/legacy/build/pdf.mjs') as unknown as Promise<PdfJs>;
  return pdfjs;
}

export async function pdfText(data: Buffer, maxChars: number): Promise<ExtractResult> {
  const lib = await load();
  let doc;
  try {
    doc = await lib.getDocument({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), isEvalSupported: false, useSystemFonts: false, disableFontFace: true, verbosity: 0, stopAtErrors: false }).promise;
  } catch (e) {
    const name = (e as { name?: string }).name ?? '';
    if (name === 'PasswordException') return { kind: 'unscanned', reason: 'encrypted' };
    return { kind: 'unscanned', reason: 'unreadable' };
  }
  try {
    const parts: string[] = [];
    let total = 0;
    for (let p = 1; p <= doc.numPages && total < maxChars; p++) {
      const page = await doc.getPage(p);
      const content = await page.getTextContent();
      let line = '';
      for (const item of content.items as { str?: string; hasEOL?: boolean }[]) {
        if (typeof item.str !== 'string') continue;
        line += item.str;
        line += item.hasEOL ? '\n' : item.str.endsWith(' ') ? '' : ' ';
      }
      parts.push(line);
      total += line.length;
      page.cleanup();
    }
    const text = parts.join('\n\n');
    if (!text.trim()) return { kind: 'unscanned', reason: 'image' };
    return { kind: 'text', text: text.slice(0, maxChars), ...(text.length > maxChars || total >= maxChars ? { truncated: true } : {}) };
  } finally {
    await doc.destroy();
  }
}
