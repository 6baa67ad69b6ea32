// Owns splitting a message into what an encryption wrapper shows and what it hides: the outer headers (everything
// but MIME-Version and Content-*) and the inner MIME entity (the Content-* headers plus the body). The inner
// entity carries "protected headers" (Subject, From, To, Cc, Date, Message-ID and protected-headers="v1" on its
// Content-Type, the Autocrypt / memory-hole convention) so the recipient's client can show the real subject,
// while the outer Subject becomes neutral. Both come out in canonical form, CRLF line ends throughout.
import libmime from 'libmime';
import { headerBlockEnd } from '../message-headers.js';

export const NEUTRAL_SUBJECT = 'Encrypted message';

/** Header names copied into the inner entity (lowercased); they keep their order in the message. */
const PROTECTED = new Set(['subject', 'from', 'to', 'cc', 'date', 'message-id']);

interface Field { name: string; raw: string }

/** Bare LF (not preceded by CR) becomes CRLF; a text that is already CRLF is returned unchanged. */
function toCrlf(s: string): string {
  return s.replace(/\r?\n/g, '\r\n');
}

function toCrlfBytes(buf: Buffer): Buffer {
  let bare = false;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) {
    if (i === 0 || buf[i - 1] !== 13) { bare = true; break; }
  }
  return bare ? Buffer.from(buf.toString('latin1').replace(/(?<!\r)\n/g, '\r\n'), 'latin1') : buf;
}

/** The header fields of a message, each with its raw (possibly folded) text in CRLF form, and the body bytes as
 * they are. Header text is held as latin1 so every byte survives the round trip. */
function split(original: Buffer): { fields: Field[]; body: Buffer } {
  const { end, bodyStart } = headerBlockEnd(original);
  const text = original.subarray(0, end).toString('latin1');
  const fields: Field[] = [];
  for (const raw of text.split(/\r?\n(?![ \t])/)) {
    if (raw === '') continue;
    const i = raw.indexOf(':');
    // A line without a name (or a continuation line at the very top) stays an outer header as it is.
    const name = i > 0 && !/^[ \t]/.test(raw) ? raw.slice(0, i).trim().toLowerCase() : '';
    fields.push({ name, raw: toCrlf(raw) });
  }
  return { fields, body: original.subarray(bodyStart) };
}

const isContent = (f: Field) => f.name.startsWith('content-');
const isOuter = (f: Field) => !isContent(f) && f.name !== 'mime-version';

/** Adds protected-headers="v1" as a parameter of a Content-Type field (raw, CRLF), unless it has one. */
function withProtectedParam(raw: string): string {
  if (/;\s*protected-headers\s*=/i.test(raw.replace(/\r\n[ \t]+/g, ' '))) return raw;
  const trimmed = raw.replace(/[ \t;]+$/, '');
  return `${trimmed};\r\n protected-headers="v1"`;
}

/**
 * The inner MIME entity of `original` with protected headers added: the Content-* fields (Content-Type gets
 * protected-headers="v1"; a message without one gets the RFC 2045 default text/plain; charset=us-ascii), then
 * Subject, From, To, Cc, Date and Message-ID copied from the message, a blank line and the body. CRLF throughout:
 * bare LF in headers and body becomes CRLF (canonical form for S/MIME and PGP/MIME); a CRLF body is kept byte for
 * byte.
 */
export function protectedEntity(original: Buffer): Buffer {
  const { fields, body } = split(original);
  const content = fields.filter(isContent);
  const lines: string[] = [];
  if (!content.some((f) => f.name === 'content-type')) lines.push(withProtectedParam('Content-Type: text/plain; charset=us-ascii'));
  for (const f of content) lines.push(f.name === 'content-type' ? withProtectedParam(f.raw) : f.raw);
  for (const f of fields) if (PROTECTED.has(f.name)) lines.push(f.raw);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return Buffer.concat([head, toCrlfBytes(body)]);
}

/** A Subject field for `subject`, encoded word when it is not plain ASCII. */
function subjectField(raw: string): string {
  const subject = raw.replace(/[\r\n]+/g, ' ');
  const value = /^[\x20-\x7e]*$/.test(subject) ? subject : libmime.encodeWords(subject, 'Q', 52);
  return `Subject: ${value}`;
}

function outerFields(original: Buffer, subject: string): string[] {
  const out: string[] = [];
  let replaced = false;
  for (const f of split(original).fields) {
    if (!isOuter(f)) continue;
    if (f.name === 'subject') {
      if (!replaced) out.push(subjectField(subject));
      replaced = true;
      continue;
    }
    out.push(f.raw);
  }
  if (!replaced) out.push(subjectField(subject));
  return out;
}

/**
 * The outer header block: every field but MIME-Version and Content-*, in order, folded lines kept, with the
 * Subject replaced by the neutral subject (added at the end when the message had none). Each field ends with
 * CRLF; no blank line follows, so the caller appends its own MIME-Version and Content-Type.
 */
export function outerHeaders(original: Buffer, opts: { subject?: string } = {}): string {
  return Buffer.from(outerFields(original, opts.subject ?? NEUTRAL_SUBJECT).map((l) => `${l}\r\n`).join(''), 'latin1').toString('utf8');
}

/** outerHeaders as bytes, exactly as they were in the message (header bytes that are not UTF-8 survive). */
export function outerHeaderBytes(original: Buffer, opts: { subject?: string } = {}): Buffer {
  return Buffer.from(outerFields(original, opts.subject ?? NEUTRAL_SUBJECT).map((l) => `${l}\r\n`).join(''), 'latin1');
}
