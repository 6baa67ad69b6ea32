// Owns what a journal record holds and how LMDB marks it applied: the queue entry and the portal passphrase
// (sealed, as JSON), then the message (sealed, as the spool keeps it); the mark is a meta key per record,
// written in the transaction that applies it, so a replay after a crash skips what LMDB already has.
import type { Queued } from '../envelope.js';
import type { Anchor, Ticket } from './journal.js';
import { SEAL_MAGIC } from '../seal.js';

export interface JournalHead { entry: Queued; passphrase: string | null }

export const JOURNAL_MARK = 'journal:';

/** The meta key that says the record behind `t` is in LMDB; marks sort by segment, then offset. */
export function journalMark(t: Ticket): string {
  return `${JOURNAL_MARK}${String(t.segment).padStart(10, '0')}:${String(t.offset).padStart(10, '0')}`;
}

/** The key range of one segment's marks. */
export function segmentMarks(segment: number): { start: string; end: string } {
  const prefix = journalMark({ segment, offset: 0 }).slice(0, -10);
  return { start: prefix, end: prefix + '~' };
}

/** A record's parts, in order (the journal writes them with one writev: the message is not copied again). */
export function journalRecord(sealedHead: Buffer, sealedBytes: Buffer): Buffer[] {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(sealedHead.length, 0);
  return [len, sealedHead, sealedBytes];
}

/** What every record carries at a fixed place: the sealed head's magic, after the head's length (journalRecord). */
export const JOURNAL_ANCHOR: Anchor = { offset: 4, bytes: SEAL_MAGIC };

export function readJournalRecord(payload: Buffer): { sealedHead: Buffer; sealedBytes: Buffer } {
  const n = payload.readUInt32BE(0);
  return { sealedHead: payload.subarray(4, 4 + n), sealedBytes: payload.subarray(4 + n) };
}

/**
 * The unsealed head of a record. Throws an error of its own words when it is not one: JSON.parse's message quotes
 * the text it failed on, which holds envelope addresses, and the caller logs the message.
 */
export function parseJournalHead(text: Buffer): JournalHead {
  let head: JournalHead;
  try {
    head = JSON.parse(text.toString('utf8')) as JournalHead;
  } catch {
    throw new Error('not a journal record this version can read');
  }
  if (typeof head?.entry?.queueId !== 'string' || !Array.isArray(head.entry.status)) throw new Error('not a journal record this version can read');
  return head;
}
