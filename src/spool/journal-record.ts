// Owns what a journal record holds and how LMDB marks it applied: the queue entry and the portal passphrase
// (sealed, as JSON), then the message (sealed, as the spool keeps it); the mark is a meta key per record,
// written in the transaction that applies it, so a replay after a crash skips what LMDB already has.
import type { Queued } from '../envelope.js';
import type { Ticket } from './journal.js';

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

export function journalRecord(sealedHead: Buffer, sealedBytes: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(sealedHead.length, 0);
  return Buffer.concat([len, sealedHead, sealedBytes], 4 + sealedHead.length + sealedBytes.length);
}

export function readJournalRecord(payload: Buffer): { sealedHead: Buffer; sealedBytes: Buffer } {
  const n = payload.readUInt32BE(0);
  return { sealedHead: payload.subarray(4, 4 + n), sealedBytes: payload.subarray(4 + n) };
}
