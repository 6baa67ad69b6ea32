// Owns RFC 3464 delivery status notifications: a multipart/report to the envelope sender naming each failed
// recipient, its status and the remote reply, with the original message's headers only (never its body).
import { randomBytes } from 'node:crypto';
import { headerBlockEnd } from '../message-headers.js';

export interface DsnRecipient {
  address: string;
  status: string;      // RFC 3463, e.g. 5.1.1
  reply: string;       // remote reply or our reason
  remoteMta?: string;
  lastAttempt: Date;
}

export interface DsnInput {
  reportingMta: string;
  queueId: string;
  originalSender: string;
  arrival: Date;
  recipients: DsnRecipient[];
  originalHeaders: string;
  now: Date;
}

const rfc2822 = (d: Date) => d.toUTCString().replace('GMT', '+0000');
const clean = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 900);

/** The enhanced status of a reply (RFC 3463: right after the reply code), or a default by class. */
export function statusOf(reply: string, permanent: boolean): string {
  // anchored: an IP address or version in the text ("host 10.4.5.6 blocked") is not a status code
  const m = /^(?:\d{3}[ -])?([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(reply.trim());
  if (m && (m[1] === '5' || m[1] === '4')) return `${permanent ? '5' : m[1]}.${m[2]}.${m[3]}`;
  return permanent ? '5.0.0' : '4.0.0';
}

export function buildDsn(d: DsnInput): { bytes: Buffer; messageId: string } {
  const boundary = `phigate-dsn-${randomBytes(8).toString('hex')}`;
  const messageId = `${d.queueId}.dsn.${randomBytes(4).toString('hex')}@${d.reportingMta}`;
  const lines = d.recipients.map((r) => `<${r.address}>: ${clean(r.reply)}`).join('\r\n');
  const human = [
    `This is the mail system at host ${d.reportingMta}.`,
    '',
    'Your message could not be delivered to one or more recipients.',
    'It has not been delivered to the addresses below and will not be retried.',
    '',
    lines,
    '',
    `Queue ID: ${d.queueId}. Quote it when you contact your administrator.`,
  ].join('\r\n');
  const perRcpt = d.recipients.map((r) => [
    `Final-Recipient: rfc822; ${r.address}`,
    'Action: failed',
    `Status: ${r.status}`,
    ...(r.remoteMta ? [`Remote-MTA: dns; ${r.remoteMta}`] : []),
    `Diagnostic-Code: smtp; ${clean(r.reply)}`,
    `Last-Attempt-Date: ${rfc2822(r.lastAttempt)}`,
  ].join('\r\n')).join('\r\n\r\n');
  const headersOnly = d.originalHeaders.replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, '') + '\r\n';
  const msg = [
    `From: Mail Delivery System <MAILER-DAEMON@${d.reportingMta}>`,
    `To: <${d.originalSender}>`,
    'Subject: Undelivered Mail Returned to Sender',
    `Date: ${rfc2822(d.now)}`,
    `Message-ID: <${messageId}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Description: Notification',
    '',
    human,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    'Content-Description: Delivery report',
    '',
    `Reporting-MTA: dns; ${d.reportingMta}`,
    `X-Phigate-Queue-ID: ${d.queueId}`,
    `Arrival-Date: ${rfc2822(d.arrival)}`,
    '',
    perRcpt,
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    'Content-Description: Undelivered message headers',
    '',
    headersOnly,
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return { bytes: Buffer.from(msg, 'utf8'), messageId };
}

/** The header block of a message (up to the first blank line). */
export function headerBlockOf(bytes: Buffer): string {
  return bytes.subarray(0, Math.min(headerBlockEnd(bytes).end, 256 * 1024)).toString('utf8');
}
