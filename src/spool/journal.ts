// Owns the acceptance journal: the file a lone client's message is synced to before its 250. LMDB's synced commit
// writes pages scattered over the file, fdatasyncs them and then writes its meta page synchronously; a journal
// record is one write into a segment whose blocks were allocated (zero-filled and synced) in advance, and one
// fdatasync that has no file metadata to flush. The caller applies each record to LMDB right after, marks it
// applied in the same transaction, and hands the ticket back (`settled`) once LMDB has synced it. A segment that
// is full and whose records are all settled is deleted. At start, the records of the segments left over are
// handed back for replay; the caller skips those marked applied.
//
// Records: length (u32 BE), CRC-32 of the payload (u32 BE), payload. A segment is zero-filled when it is made, so
// a length of 0 ends its records; a torn or damaged record (a crash during its write, never answered with 250)
// ends them too.
import { closeSync, fdatasyncSync, fsyncSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { PhigateError } from '../errors.js';

const HEADER = 8;
const NAME = /^(\d{10})\.wal$/;
const ZEROS = Buffer.alloc(1024 * 1024);
const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;

/** Where a record is: its segment and its offset there. */
export interface Ticket { segment: number; offset: number }

export interface JournalOptions {
  /** bytes per segment (allocated when it is made) */
  segmentBytes?: number;
}

/** The whole records in one segment's bytes, up to the first empty, torn or damaged one. */
export function readRecords(bytes: Buffer): { offset: number; payload: Buffer }[] {
  const out: { offset: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + HEADER <= bytes.length) {
    const len = bytes.readUInt32BE(at);
    const end = at + HEADER + len;
    if (len === 0 || end > bytes.length) break;
    const payload = bytes.subarray(at + HEADER, end);
    if (crc32(payload) !== bytes.readUInt32BE(at + 4)) break;
    out.push({ offset: at, payload });
    at = end;
  }
  return out;
}

export function segmentName(n: number): string {
  return `${String(n).padStart(10, '0')}.wal`;
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** Makes segment `n`: every block written (zeros) and synced, so later writes into it change no file metadata. */
function makeSegmentSync(dir: string, n: number, bytes: number): void {
  const fd = openSync(join(dir, segmentName(n)), 'w', 0o600);
  try {
    for (let at = 0; at < bytes; at += ZEROS.length) writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, bytes - at), at);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncDir(dir);
}

async function makeSegment(dir: string, n: number, bytes: number): Promise<void> {
  const fh = await open(join(dir, segmentName(n)), 'w', 0o600);
  try {
    for (let at = 0; at < bytes; at += ZEROS.length) await fh.write(ZEROS, 0, Math.min(ZEROS.length, bytes - at), at);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  syncDir(dir);
}

export class Journal {
  /** records appended to each segment and not settled yet */
  private readonly pending = new Map<number, number>();
  private fd: number;
  private offset = 0;
  private spare: Promise<boolean> | null = null;
  private spareReady = false;
  private closed = false;
  private readonly segmentBytes: number;
  private removedHook: ((segment: number) => void) | null = null;

  private constructor(private readonly dir: string, private segment: number, private readonly leftOver: number[], opts: JournalOptions) {
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.fd = openSync(join(dir, segmentName(segment)), 'r+');
    this.pending.set(segment, 0);
  }

  /**
   * Opens the journal in `dir` with a new segment. `records` are those of the segments left from before, oldest
   * first; `minSegment`: number the new segment above this (segments numbered before a clean stop left none).
   */
  static open(dir: string, minSegment = 0, opts: JournalOptions = {}): { journal: Journal; records: (Ticket & { payload: Buffer })[] } {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const segments = readdirSync(dir).map((n) => NAME.exec(n)).filter((m): m is RegExpExecArray => !!m).map((m) => Number(m[1])).sort((a, b) => a - b);
      const records = segments.flatMap((segment) => readRecords(readFileSync(join(dir, segmentName(segment)))).map((r) => ({ segment, ...r })));
      const next = Math.max(segments.at(-1) ?? 0, minSegment) + 1;
      makeSegmentSync(dir, next, opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES);
      return { journal: new Journal(dir, next, segments, opts), records };
    } catch (e) {
      throw new PhigateError('JOURNAL', `cannot open the acceptance journal in ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Called when a segment and all its records are gone (their applied marks can be dropped). */
  onRemoved(fn: (segment: number) => void): void {
    this.removedHook = fn;
  }

  /** The segment records are written to now; every segment before it is gone once dropLeftOver ran. */
  get current(): number {
    return this.segment;
  }

  /** The largest payload a segment takes. */
  get maxPayload(): number {
    return this.segmentBytes - HEADER;
  }

  /** Writes one record and syncs it, here on this thread; it is on disk when this returns. Throws JOURNAL. */
  append(payload: Buffer): Ticket {
    if (this.closed) throw new PhigateError('JOURNAL', 'the acceptance journal is closed');
    if (payload.length > this.maxPayload) throw new PhigateError('JOURNAL', `a journal record holds at most ${this.maxPayload} bytes`);
    if (this.offset + HEADER + payload.length > this.segmentBytes) {
      try {
        this.rotate();
      } catch (e) {
        throw new PhigateError('JOURNAL', `cannot start a new journal segment: ${(e as Error).message}`, { cause: e });
      }
    }
    const head = Buffer.alloc(HEADER);
    head.writeUInt32BE(payload.length, 0);
    head.writeUInt32BE(crc32(payload), 4);
    const ticket = { segment: this.segment, offset: this.offset };
    try {
      writeAll(this.fd, head, ticket.offset);
      writeAll(this.fd, payload, ticket.offset + HEADER);
      fdatasyncSync(this.fd);
    } catch (e) {
      // what reached the file may end this segment's readable records: later records go to a new one
      this.offset = this.segmentBytes;
      throw new PhigateError('JOURNAL', `acceptance journal write failed: ${(e as Error).message}`, { cause: e });
    }
    this.offset += HEADER + payload.length;
    this.pending.set(ticket.segment, (this.pending.get(ticket.segment) ?? 0) + 1);
    if (!this.spare && this.offset * 2 >= this.segmentBytes) this.prepareSpare();
    return ticket;
  }

  /** The record behind `ticket` is applied to LMDB and synced there. */
  settled(ticket: Ticket): void {
    const n = (this.pending.get(ticket.segment) ?? 1) - 1;
    this.pending.set(ticket.segment, n);
    if (n <= 0 && ticket.segment !== this.segment) this.remove(ticket.segment);
  }

  /** The left-over records are applied (or were) and synced: their segments go. */
  dropLeftOver(): void {
    for (const s of this.leftOver.splice(0)) this.remove(s);
  }

  /** Stops taking records; deletes the current segment (and an unused spare) if every record in it is settled. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    if (this.spare) { await this.spare; this.remove(this.segment + 1, false); }
    if ((this.pending.get(this.segment) ?? 0) <= 0) this.remove(this.segment);
  }

  /** The next segment is made in the background while this one fills. */
  private prepareSpare(): void {
    const n = this.segment + 1;
    this.spareReady = false;
    this.spare = makeSegment(this.dir, n, this.segmentBytes).then(() => { this.spareReady = true; return true; }, () => false);
  }

  private rotate(): void {
    const old = this.segment;
    let next = old + 1;
    if (!this.spareReady) {
      // a spare still being written is left to finish and then deleted; the next number is made here
      if (this.spare) {
        const unfinished = next;
        void this.spare.then(() => this.remove(unfinished, false));
        next++;
      }
      makeSegmentSync(this.dir, next, this.segmentBytes);
    }
    closeSync(this.fd);
    this.fd = openSync(join(this.dir, segmentName(next)), 'r+');
    this.segment = next;
    this.offset = 0;
    this.spare = null;
    this.spareReady = false;
    this.pending.set(next, 0);
    if ((this.pending.get(old) ?? 0) <= 0) this.remove(old);
  }

  private remove(segment: number, announce = true): void {
    this.pending.delete(segment);
    try {
      unlinkSync(join(this.dir, segmentName(segment)));
      syncDir(this.dir);
    } catch { /* already gone */ }
    if (announce) this.removedHook?.(segment);
  }
}

function writeAll(fd: number, bytes: Buffer, at: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
}
