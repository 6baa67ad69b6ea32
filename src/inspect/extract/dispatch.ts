// Owns choosing an extractor for an attachment: by magic bytes first (a name or type can lie), then MIME type
// and file name. What no extractor reads is reported as unscanned with the reason.
import { convert } from 'html-to-text';
import iconv from 'iconv-lite';
import type { ExtractResult } from './types.js';
import { pdfText } from './pdf.js';
import { docxText, xlsxText } from './office.js';
import { zipEntries } from './zip.js';

export type Kind = 'text' | 'html' | 'pdf' | 'docx' | 'xlsx' | 'zip' | 'message' | 'image' | 'audio-video' | 'encrypted' | 'binary';

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

/** Office Open XML inside a ZIP: look for its main part names in the central directory bytes. */
function officeKind(data: Buffer): 'docx' | 'xlsx' | null {
  const tail = data.subarray(Math.max(0, data.length - 65536)).toString('latin1');
  if (tail.includes('word/document.xml')) return 'docx';
  if (tail.includes('xl/workbook.xml')) return 'xlsx';
  return null;
}

export function classify(contentType: string, name: string, data: Buffer): Kind {
  const ct = contentType.toLowerCase();
  const e = ext(name);
  const head = data.subarray(0, 8).toString('latin1');
  if (head.startsWith('%PDF')) return 'pdf';
  if (head.startsWith('PK\x03\x04') || head.startsWith('PK\x05\x06')) return officeKind(data) ?? 'zip';
  if (/^\x89PNG|^GIF8|^\xff\xd8\xff|^II\*\x00|^MM\x00\*|^RIFF/.test(head) || ct.startsWith('image/')) return 'image';
  if (ct.startsWith('audio/') || ct.startsWith('video/')) return 'audio-video';
  if (ct === 'message/rfc822' || e === 'eml') return 'message';
  if (/pgp-encrypted|pkcs7-mime|x-pkcs7-mime/.test(ct) || ['gpg', 'pgp', 'p7m', 'asc'].includes(e) && head.startsWith('-----BEGIN PGP MESSAGE')) return 'encrypted';
  if (ct === 'text/html' || e === 'html' || e === 'htm') return 'html';
  if (ct.startsWith('text/') || ['txt', 'csv', 'tsv', 'json', 'xml', 'log', 'md', 'ics', 'vcf', 'hl7', 'rtf'].includes(e)) return 'text';
  if (looksLikeText(data)) return 'text';
  return 'binary';
}

export function decodeText(data: Buffer, charset: string | undefined): string {
  const cs = (charset ?? 'utf-8').toLowerCase();
  if (cs === 'utf-8' || cs === 'utf8' || cs === 'us-ascii' || !iconv.encodingExists(cs)) return data.toString('utf8');
  return iconv.decode(data, cs);
}

export function htmlToText(html: string): string {
  return convert(html, {
    wordwrap: false,
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
      { selector: 'style', format: 'skip' },
      { selector: 'script', format: 'skip' },
    ],
  });
}

export async function extract(kind: Kind, data: Buffer, charset: string | undefined, maxChars: number): Promise<ExtractResult> {
  switch (kind) {
    case 'text': return { kind: 'text', text: decodeText(data, charset).slice(0, maxChars) };
    case 'html': return { kind: 'text', text: htmlToText(decodeText(data, charset)).slice(0, maxChars) };
    case 'pdf': return pdfText(data, maxChars);
    case 'docx': return docxText(data, maxChars);
    case 'xlsx': return xlsxText(data, maxChars);
    case 'zip': return zipEntries(data);
    case 'message': return { kind: 'message', data };
    case 'image': return { kind: 'unscanned', reason: 'image' };
    case 'audio-video': return { kind: 'unscanned', reason: 'audio-video' };
    case 'encrypted': return { kind: 'unscanned', reason: 'encrypted' };
    default: return { kind: 'unscanned', reason: 'unknown-binary' };
  }
}
