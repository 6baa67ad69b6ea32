// Owns what policy reads of a message: the envelope's facts, the scan, and the decoded header lines (Subject
// and the rest, RFC 2047 words decoded), read once from the header block.
import libmime from 'libmime';
import { headerBlockEnd, parseHeaderLines } from '../message-headers.js';
import type { Received, ScanFacts } from '../envelope.js';
import type { PolicyMessage } from './conditions.js';

function decode(v: string): string {
  try { return libmime.decodeWords(v); } catch { return v; }
}

export function policyMessage(env: Pick<Received, 'sender' | 'client' | 'size'>, bytes: Buffer, scan: ScanFacts): PolicyMessage {
  const { end } = headerBlockEnd(bytes);
  const headers = parseHeaderLines(bytes.subarray(0, end).toString('utf8')).map(([n, v]): [string, string] => [n, decode(v)]);
  return {
    sender: env.sender,
    listener: env.client.listener,
    user: env.client.user ?? null,
    scan,
    subject: headers.find(([n]) => n === 'subject')?.[1] ?? '',
    headers,
    size: env.size,
  };
}
