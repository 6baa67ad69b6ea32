// Owns the short notices policy sends (to the sender or an admin) when a message is held, rejected in part or
// routed by a rule with `notify`. They say what happened, to whom and under which rule, and carry no content of
// the message: no subject, no body, no attachment names (the Message-ID and queue id identify it).
import { randomBytes } from 'node:crypto';

export interface NoticeInput {
  reportingMta: string;
  queueId: string;
  messageId: string | null;
  to: string;
  arrival: Date;
  now: Date;
  /** what happened, one line per affected recipient: "<a@b>: held: reason" */
  lines: string[];
  /** the rule's own text for the reader (admin-written, no PHI) */
  text?: string;
  headline: string;
}

const rfc2822 = (d: Date) => d.toUTCString().replace('GMT', '+0000');
const clean = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 900);

export function buildNotice(n: NoticeInput): { bytes: Buffer; messageId: string } {
  const messageId = `${n.queueId}.notice.${randomBytes(4).toString('hex')}@${n.reportingMta}`;
  const body = [
    `This is the mail gateway at ${n.reportingMta}.`,
    '',
    clean(n.headline),
    '',
    ...n.lines.map(clean),
    '',
    ...(n.text ? [clean(n.text), ''] : []),
    `Message-ID: ${n.messageId ? `<${n.messageId}>` : '(none)'}`,
    `Received: ${rfc2822(n.arrival)}`,
    `Queue ID: ${n.queueId}. Quote it when you contact your administrator.`,
    '',
  ].join('\r\n');
  const msg = [
    `From: Mail Gateway <postmaster@${n.reportingMta}>`,
    `To: <${n.to}>`,
    `Subject: ${clean(n.headline).slice(0, 120)}`,
    `Date: ${rfc2822(n.now)}`,
    `Message-ID: <${messageId}>`,
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    body,
  ].join('\r\n');
  return { bytes: Buffer.from(msg, 'utf8'), messageId };
}
