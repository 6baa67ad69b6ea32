// Owns the mails the portal sends: the notification that a secure message is waiting (from the admin-editable
// templates in config/, text and HTML, with {{sender}}, {{link}} and {{expires}}), and the one-time code. Neither
// carries PHI: no subject, no body, no attachment names of the message.
import { randomBytes } from 'node:crypto';
import libmime from 'libmime';

export interface Templates { text: string; html: string }

const rfc2822 = (d: Date) => d.toUTCString().replace('GMT', '+0000');
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').trim();

function fill(template: string, values: Record<string, string>, escape: (s: string) => string): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, k: string) => (k in values ? escape(values[k]!) : m));
}

function mail(o: { hostname: string; to: string; fromName: string; subject: string; text: string; html?: string }): { bytes: Buffer; messageId: string } {
  const messageId = `${randomBytes(10).toString('hex')}.portal@${o.hostname}`;
  const boundary = `phigate-portal-${randomBytes(8).toString('hex')}`;
  const head = [
    `From: ${libmime.encodeWords(oneLine(o.fromName), 'Q', 52)} <postmaster@${o.hostname}>`,
    `To: <${o.to}>`,
    `Subject: ${libmime.encodeWords(oneLine(o.subject), 'Q', 52)}`,
    `Date: ${rfc2822(new Date())}`,
    `Message-ID: <${messageId}>`,
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
  ];
  const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
  const body = o.html
    ? [`Content-Type: multipart/alternative; boundary="${boundary}"`, '', `--${boundary}`, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', crlf(o.text),
      `--${boundary}`, 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', crlf(o.html), `--${boundary}--`, '']
    : ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', crlf(o.text)];
  return { bytes: Buffer.from([...head, ...body].join('\r\n'), 'utf8'), messageId };
}

/** "Pat Doe" from a From header value, else the address; never the message's content. */
export function senderName(fromHeader: string | undefined, fallback: string): string {
  const v = libmime.decodeWords(fromHeader ?? '');
  const m = /^\s*"?([^"<]+?)"?\s*</.exec(v);
  return oneLine(m?.[1] ?? (v.replace(/[<>]/g, '').trim() || fallback)).slice(0, 80);
}

export function notificationMail(t: Templates, o: { hostname: string; to: string; sender: string; link: string; expiresAt: Date }): { bytes: Buffer; messageId: string } {
  const values = { sender: o.sender, link: o.link, expires: o.expiresAt.toISOString().slice(0, 10) };
  return mail({
    hostname: o.hostname, to: o.to, fromName: `${o.sender} via secure mail`,
    subject: `${o.sender} sent you a secure message`,
    text: fill(t.text, values, (s) => s), html: fill(t.html, values, esc),
  });
}

export function receiptMail(o: { hostname: string; to: string; recipient: string; messageId: string | null; openedAt: Date }): { bytes: Buffer; messageId: string } {
  return mail({
    hostname: o.hostname, to: o.to, fromName: 'Secure mail',
    subject: `Read: your secure message to ${o.recipient}`,
    text: `${o.recipient} opened your secure message${o.messageId ? ` <${o.messageId}>` : ''} on ${o.openedAt.toISOString().replace('T', ' ').slice(0, 16)} UTC.\n`,
  });
}

export function codeMail(o: { hostname: string; to: string; code: string; minutes: number }): { bytes: Buffer; messageId: string } {
  return mail({
    hostname: o.hostname, to: o.to, fromName: 'Secure mail',
    subject: 'Your code for the secure message',
    text: `Your one-time code is ${o.code}\n\nIt works once and expires in ${o.minutes} minutes. If you did not ask for it, ignore this mail.\n`,
  });
}
