// Owns how a sender asks for a portal passphrase: a token `[passphrase: WORDS]` anywhere in the Subject (what an
// Outlook user can type). The token is taken out of the message before anything else sees it (scan, policy,
// every recipient's copy, the audit); the words are kept sealed beside the message and required by the portal,
// next to the one-time code. The sender shares them with the recipient out of band (by phone).
import libmime from 'libmime';
import { headerBlockEnd } from '../message-headers.js';

const TOKEN = /\s*\[\s*passphrase\s*:\s*([^\]]{4,64}?)\s*\]\s*/i;

/** The message without the token, and the passphrase it held (null when there is none). */
export function takePassphrase(bytes: Buffer): { bytes: Buffer; passphrase: string | null } {
  const { end, bodyStart } = headerBlockEnd(bytes);
  const head = bytes.subarray(0, end).toString('latin1');
  const lines = head.split(/\r?\n(?![ \t])/);
  const i = lines.findIndex((l) => /^subject\s*:/i.test(l));
  if (i < 0) return { bytes, passphrase: null };
  const raw = lines[i]!.slice(lines[i]!.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
  const subject = libmime.decodeWords(Buffer.from(raw, 'latin1').toString('utf8'));
  const m = TOKEN.exec(subject);
  if (!m) return { bytes, passphrase: null };
  const rest = subject.replace(TOKEN, ' ').replace(/\s{2,}/g, ' ').trim();
  lines[i] = `Subject: ${libmime.encodeWords(rest, 'Q', 52)}`;
  const nl = head.includes('\r\n') || bytes.indexOf('\r\n') === end ? '\r\n' : '\n';
  return { bytes: Buffer.concat([Buffer.from(lines.join(nl), 'latin1'), bytes.subarray(end, bodyStart), bytes.subarray(bodyStart)]), passphrase: m[1]!.trim() };
}
