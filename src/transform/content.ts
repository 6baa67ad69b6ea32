// Owns the edits a rule makes to a recipient's copy before signing: remove trigger tags such as [secure] from the
// Subject, add a subject prefix, add headers. Only the header block changes; the body bytes are kept as they are.
import libmime from 'libmime';
import { headerBlockEnd } from '../message-headers.js';
import type { ContentChanges } from '../envelope.js';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The subject after the rule's edits. */
export function editSubject(subject: string, changes: ContentChanges): string {
  let s = subject;
  for (const tag of changes.strip ?? []) s = s.replace(new RegExp(`\\s*${escape(tag)}\\s*`, 'gi'), ' ');
  s = s.replace(/\s{2,}/g, ' ').trim();
  if (changes.subjectPrefix && !s.toLowerCase().startsWith(changes.subjectPrefix.trim().toLowerCase())) s = `${changes.subjectPrefix.trim()} ${s}`.trim();
  return s;
}

export function hasChanges(changes: ContentChanges | undefined): boolean {
  return !!changes && (!!changes.subjectPrefix || !!changes.strip?.length || !!changes.headers?.length);
}

/** A stable key for a set of changes: recipients with the same key share one copy. */
export function changesKey(changes: ContentChanges | undefined): string {
  return hasChanges(changes) ? JSON.stringify([changes!.strip ?? [], changes!.subjectPrefix ?? '', changes!.headers ?? []]) : '';
}

/** Folds a header line at its spaces so lines stay within 78 characters where they can (RFC 5322 2.1.1): a long
 * encoded subject would otherwise pass the 998-character limit. Unfolding gives the same line back. */
function fold(line: string, nl: string): string {
  if (line.length <= 78) return line;
  const words = line.split(' ');
  const out: string[] = [];
  let cur = words[0]!;
  for (const w of words.slice(1)) {
    if (cur.length + 1 + w.length > 78 && cur.trim() !== '' && (out.length > 0 || cur.includes(' '))) { out.push(cur); cur = ` ${w}`; } else cur += ` ${w}`;
  }
  out.push(cur);
  return out.join(nl);
}

export function applyChanges(bytes: Buffer, changes: ContentChanges | undefined): Buffer {
  if (!hasChanges(changes)) return bytes;
  const { end, bodyStart } = headerBlockEnd(bytes);
  const nl = bytes.indexOf('\r\n') >= 0 && bytes.indexOf('\r\n') <= end ? '\r\n' : '\n';
  const lines = bytes.subarray(0, end).toString('latin1').split(/\r?\n(?![ \t])/);
  const subjectAt = lines.findIndex((l) => /^subject\s*:/i.test(l));
  const oldRaw = subjectAt >= 0 ? lines[subjectAt]!.slice(lines[subjectAt]!.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim() : '';
  const old = libmime.decodeWords(Buffer.from(oldRaw, 'latin1').toString('utf8'));
  if (changes!.subjectPrefix || changes!.strip?.length) {
    const next = editSubject(old, changes!);
    const line = fold(`Subject: ${libmime.encodeWords(next, 'Q', 52)}`, nl);
    if (subjectAt >= 0) lines[subjectAt] = line;
    else if (next) lines.push(line); // stripping a tag from a message without a Subject adds none
  }
  for (const [name, value] of changes!.headers ?? []) lines.push(fold(`${name}: ${libmime.encodeWords(value.replace(/[\r\n]+/g, ' '), 'Q', 52)}`, nl));
  const head = Buffer.from(lines.join(nl), 'latin1');
  return Buffer.concat([head, Buffer.from(nl + nl), bytes.subarray(bodyStart)]);
}
