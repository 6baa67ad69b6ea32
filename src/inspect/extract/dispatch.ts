// Owns choosing an extractor for an attachment: by magic bytes first (a name or type can lie), then MIME type
// and file name. What no extractor reads is reported as unscanned with the reason.
import { createRequire } from 'node:module';
import iconv from 'iconv-lite';
import type { ExtractResult } from './types.js';
import { pdfText } from './pdf.js';
import { docxText, xlsxText } from './office.js';
import { zipEntries, zipEntryNames } from './zip.js';
import { delimitedToLabelledText, utf8TableBytes } from './table.js';

export type Kind = 'text' | 'table' | 'html' | 'pdf' | 'docx' | 'xlsx' | 'zip' | 'message' | 'image' | 'audio-video' | 'encrypted' | 'binary';

function ext(name: string): string {
  const m = /\.([A-Za-z0-9]{1,8})$/.exec(name);
  return m ? m[1]!.toLowerCase() : '';
}

function looksLikeText(data: Buffer): boolean {
  const n = Math.min(data.length, 4096);
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const b = data[i]!;
    if (b === 0) return false;
    if (b < 9 || (b > 13 && b < 32)) bad++;
  }
  return bad <= n * 0.01;
}

/** A ZIP container is Office Open XML when its own entries include the main part. */
async function zipKind(data: Buffer): Promise<'docx' | 'xlsx' | 'zip'> {
  const names = await zipEntryNames(data);
  if (names?.includes('word/document.xml')) return 'docx';
  if (names?.includes('xl/workbook.xml')) return 'xlsx';
  return 'zip';
}

export function classify(contentType: string, name: string, data: Buffer): Kind {
  const ct = contentType.toLowerCase();
  const e = ext(name);
  const head = data.subarray(0, 8).toString('latin1');
  if (head.startsWith('%PDF')) return 'pdf';
  if (head.startsWith('PK\x03\x04') || head.startsWith('PK\x05\x06')) return 'zip';
  if (/^\x89PNG|^GIF8|^\xff\xd8\xff|^II\*\x00|^MM\x00\*|^RIFF/.test(head) || ct.startsWith('image/')) return 'image';
  if (ct.startsWith('audio/') || ct.startsWith('video/')) return 'audio-video';
  if (ct === 'message/rfc822' || e === 'eml') return 'message';
  if (/pgp-encrypted|pkcs7-mime|x-pkcs7-mime/.test(ct) || ['gpg', 'pgp', 'p7m', 'asc'].includes(e) && head.startsWith('-----BEGIN PGP MESSAGE')) return 'encrypted';
  if (ct === 'text/html' || e === 'html' || e === 'htm') return 'html';
  if (ct === 'text/csv' || ct === 'text/tab-separated-values' || e === 'csv' || e === 'tsv') return 'table';
  if (ct.startsWith('text/') || ['txt', 'csv', 'tsv', 'json', 'xml', 'log', 'md', 'ics', 'vcf', 'hl7', 'rtf'].includes(e)) return 'text';
  if (looksLikeText(data)) return 'text';
  return 'binary';
}

/** Whether text in this charset is read as UTF-8 (UTF-8 itself, ASCII, or a charset iconv does not know). */
export function readsAsUtf8(charset: string | undefined): boolean {
  const cs = (charset ?? 'utf-8').toLowerCase();
  return cs === 'utf-8' || cs === 'utf8' || cs === 'us-ascii' || !iconv.encodingExists(cs);
}

export function decodeText(data: Buffer, charset: string | undefined): string {
  return readsAsUtf8(charset) ? data.toString('utf8') : iconv.decode(data, charset!.toLowerCase());
}

// html-to-text is loaded on first use (synchronously, through its CommonJS build): most messages have no HTML
const requireCjs = createRequire(import.meta.url);
let convertFn: typeof import('html-to-text').convert | null = null;
function convert(...args: Parameters<typeof import('html-to-text').convert>): string {
  convertFn ??= (requireCjs('html-to-text') as typeof import('html-to-text')).convert;
  return convertFn(...args);
}

export function htmlToText(html: string): string {
  // keep cell and row boundaries: "<td>Member ID</td><td>W29...</td>" must not read "Member IDW29..."
  // (one pass: a cell end gains a space before it, a row end a line break and the lower-case tag)
  const spaced = html.replace(/<\/(td|th|tr)\s*>/gi, (_m, tag: string) => (tag.toLowerCase() === 'tr' ? '\n</tr>' : ` </${tag}>`));
  return convert(spaced, {
    wordwrap: false,
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
      { selector: 'style', format: 'skip' },
      { selector: 'script', format: 'skip' },
    ],
  });
}

/** Text within the character budget; what is cut off is reported (the scanner lists it as not scanned). */
function cut(text: string, maxChars: number): ExtractResult {
  return text.length > maxChars ? { kind: 'text', text: text.slice(0, maxChars), truncated: true } : { kind: 'text', text };
}

export async function extract(kind: Kind, data: Buffer, charset: string | undefined, maxChars: number): Promise<ExtractResult> {
  switch (kind) {
    case 'text': return cut(decodeText(data, charset), maxChars);
    case 'table': {
      const bytes = utf8TableBytes(data, readsAsUtf8(charset), maxChars);
      const decoded = bytes ? null : decodeText(data, charset);
      const t = delimitedToLabelledText(bytes ?? decoded!.slice(0, maxChars));
      return { kind: 'text', text: t.text, ...(t.truncated || (decoded !== null && decoded.length > maxChars) ? { truncated: true } : {}) };
    }
    case 'html': return cut(htmlToText(decodeText(data, charset)), maxChars);
    case 'pdf': return pdfText(data, maxChars);
    case 'docx': return docxText(data, maxChars);
    case 'xlsx': return xlsxText(data, maxChars);
    case 'zip': {
      const k = await zipKind(data);
      return k === 'zip' ? zipEntries(data) : extract(k, data, charset, maxChars);
    }
    case 'message': return { kind: 'message', data };
    case 'image': return { kind: 'unscanned', reason: 'image' };
    case 'audio-video': return { kind: 'unscanned', reason: 'audio-video' };
    case 'encrypted': return { kind: 'unscanned', reason: 'encrypted' };
    default: return { kind: 'unscanned', reason: 'unknown-binary' };
  }
}
