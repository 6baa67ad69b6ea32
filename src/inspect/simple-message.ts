// Owns the fast path for the commonest message: one text/plain part in 7bit or 8bit. Its body is the text
// itself (decoded from its charset), so the MIME parser is not needed; anything else goes to mailparser.
import libmime from 'libmime';
import { decodeText, readsAsUtf8 } from './extract/dispatch.js';
import { utf8WithLf } from './line-endings.js';
import { headerBlockEnd, parseHeaderLines } from '../message-headers.js';

export interface SimpleMessage {
  headers: Map<string, string>;
  body: string;
}

/** The message as headers and text when it is a single 7bit/8bit text/plain part; otherwise null. */
export function simpleMessage(raw: Buffer): SimpleMessage | null {
  const he = headerBlockEnd(raw);
  if (he.bodyStart === raw.length || he.end > 256 * 1024) return null;
  const headers = new Map<string, string>();
  for (const [name, value] of parseHeaderLines(raw.subarray(0, he.end).toString('latin1'))) if (!headers.has(name)) headers.set(name, value);
  const ct = libmime.parseHeaderValue(headers.get('content-type') ?? 'text/plain');
  const type = String(ct.value ?? 'text/plain').toLowerCase();
  const cte = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase().trim();
  if (type !== 'text/plain' || !['7bit', '8bit', 'binary'].includes(cte)) return null;
  const disposition = (headers.get('content-disposition') ?? '').toLowerCase();
  if (disposition.startsWith('attachment')) return null;
  // header values were read as latin1 bytes: decode encoded words and raw UTF-8 (RFC 6532) properly
  for (const [k, v] of headers) {
    const utf8 = Buffer.from(v, 'latin1').toString('utf8');
    headers.set(k, libmime.decodeWords(/\uFFFD/.test(utf8) ? v : utf8));
  }
  const charset = (ct.params as Record<string, string> | undefined)?.['charset'];
  const bytes = raw.subarray(he.bodyStart);
  return { headers, body: readsAsUtf8(charset) ? utf8WithLf(bytes) : decodeText(bytes, charset).replace(/\r\n/g, '\n') };
}
