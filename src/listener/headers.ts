// Owns what the listener reads and writes in a message's header block: the Received trace header, loop
// counting, Message-ID and From domain for the envelope, and the Message-ID/Date a client left out.
import addressparser from 'nodemailer/lib/addressparser';
import type { ClientInfo } from '../envelope.js';
import { headerBlockEnd, parseHeaderLines } from '../message-headers.js';

export interface HeaderFacts {
  receivedCount: number;
  messageId: string | null;
  fromDomain: string | null;
  hasDate: boolean;
}

export function readHeaderFacts(buf: Buffer): HeaderFacts {
  const { end } = headerBlockEnd(buf);
  const lines = parseHeaderLines(buf.subarray(0, Math.min(end, 256 * 1024)).toString('latin1'));
  let receivedCount = 0;
  let messageId: string | null = null;
  let from: string | null = null;
  let hasDate = false;
  for (const [name, value] of lines) {
    if (name === 'received') receivedCount++;
    else if (name === 'message-id' && messageId === null) messageId = value.replace(/^<|>$/g, '').trim() || null;
    else if (name === 'from' && from === null) from = value;
    else if (name === 'date') hasDate = true;
  }
  let fromDomain: string | null = null;
  if (from) {
    const first = addressparser(from, { flatten: true })[0];
    const addr = first?.address ?? '';
    const at = addr.lastIndexOf('@');
    if (at > 0) fromDomain = addr.slice(at + 1).toLowerCase();
  }
  return { receivedCount, messageId, fromDomain, hasDate };
}

const PROTOCOL = (c: ClientInfo) => `ESMTP${c.tls ? 'S' : ''}${c.user ? 'A' : ''}`;

export function receivedHeader(c: ClientInfo, hostname: string, queueId: string, recipients: string[], now: Date): string {
  const clean = (s: string) => s.replace(/[^\x21-\x7e]/g, '').slice(0, 255);
  const rdns = c.clientHostname && !c.clientHostname.startsWith('[') ? clean(c.clientHostname) : 'unknown';
  const from = `from ${clean(c.helo || 'unknown')} (${rdns} [${clean(c.clientIp)}])`;
  const tls = c.tls?.protocol ? `\r\n\t(using ${c.tls.protocol} with cipher ${clean(c.tls.cipher ?? 'unknown')})` : '';
  const forClause = recipients.length === 1 ? `\r\n\tfor <${clean(recipients[0]!)}>` : '';
  return `Received: ${from}${tls}\r\n\tby ${hostname} (phigate) with ${PROTOCOL(c)} id ${queueId}${forClause};\r\n\t${now.toUTCString().replace('GMT', '+0000')}\r\n`;
}

/** The header lines phigate adds in front of the message: Received, and Message-ID/Date when missing. */
export function traceHeaders(facts: HeaderFacts, c: ClientInfo, hostname: string, queueId: string, recipients: string[], now: Date): { text: string; messageId: string } {
  let text = receivedHeader(c, hostname, queueId, recipients, now);
  let messageId = facts.messageId;
  if (!messageId) {
    messageId = `${queueId}@${hostname}`;
    text += `Message-ID: <${messageId}>\r\n`;
  }
  if (!facts.hasDate) text += `Date: ${now.toUTCString().replace('GMT', '+0000')}\r\n`;
  return { text, messageId };
}
