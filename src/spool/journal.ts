// Owns the acceptance journal: the file a lone client's message is synced to before its 250. LMDB's synced commit
// writes pages scattered over the file, fdatasyncs them and then writes its meta page synchronously; a journal
// record is one write into a segment whose blocks are allocated already, and one fdatasync that has no file
// metadata to flush. The caller applies each record to LMDB right after, marks it applied in the same
// transaction, and hands the ticket back (`settled`) once LMDB has synced it. A segment that is full and whose
// records are all settled is recycled: renamed to the next segment's number (no new blocks to allocate), or
// deleted when one is kept already. At start, the records of the segments left over are handed back for
// replay; the caller skips those marked applied.
//
// Records: length (u32 BE), CRC-32 of the segment number and the payload (u32 BE), payload. A new segment is
// zero-filled, so a length of 0 ends its records; in a recycled one the old records carry another segment
// number in their CRC, so the first of them ends the records; a torn record (a crash during its write, never
// answered with 250) ends them too. Records damaged in place are told apart when a whole record of the segment
// follows them (see readRecords).
import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { JournalWriteError, PhigateError, type JournalPlace } from '../errors.js';

const HEADER = 8;
const NAME = /^(\d{10})\.wal$/;
const ZEROS = Buffer.alloc(1024 * 1024);
const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;

/** Where a record is: its segment and its offset there. */
export type Ticket = JournalPlace;

/** Bytes every payload carries at a fixed offset. */
export interface Anchor { offset: number; bytes: Buffer }

export interface JournalOptions {
  /** bytes per segment (allocated when it is made) */
  segmentBytes?: number;
  /**
   * Bytes every one of the caller's payloads carries at `offset` (a magic number). With it, reading looks past a
   * damaged length field for the next whole record (see readRecords).
   */
  anchor?: Anchor;
}

function checksum(segment: number, parts: Buffer[]): number {
  const n = Buffer.alloc(4);
  n.writeUInt32BE(segment, 0);
  return parts.reduce((c, p) => crc32(p, c), crc32(n));
}

/**
 * One record read back. `damaged`: bytes that do not check (a record, or what lies before the next whole record
 * found by its anchor), with a whole record of this segment after them.
 */
export interface RecordRead { offset: number; payload: Buffer; damaged?: true }

/** Whether a whole record of segment `segment` starts at `at`. */
function recordAt(bytes: Buffer, at: number, segment: number): { len: number; ok: boolean } | null {
  if (at + HEADER > bytes.length) return null;
  const len = bytes.readUInt32BE(at);
  if (len === 0 || at + HEADER + len > bytes.length) return null;
  return { len, ok: checksum(segment, [bytes.subarray(at + HEADER, at + HEADER + len)]) === bytes.readUInt32BE(at + 4) };
}

/**
 * Where the first whole record of `segment` at or after `from` starts, among the places whose payload carries
 * `anchor`; -1 when there is none. The anchor is found with indexOf; the checksum is computed only where it is.
 */
function nextWhole(bytes: Buffer, from: number, segment: number, anchor: Anchor): number {
  const lead = HEADER + anchor.offset;
  for (let i = bytes.indexOf(anchor.bytes, from + lead); i >= 0; i = bytes.indexOf(anchor.bytes, i + 1)) {
    const r = recordAt(bytes, i - lead, segment);
    if (r?.ok && r.len >= anchor.offset + anchor.bytes.length) return i - lead;
  }
  return -1;
}

/**
 * The records in segment `segment`'s bytes, up to the first empty, torn or older one. Records that fail their
 * checksum end them (a torn last write, or a recycled segment's old records) unless a whole record of this
 * segment follows them, found by stepping over their lengths: then they were damaged in place, and are returned
 * marked `damaged`, so that the records after them are still read and the damage is reported. A damaged length
 * field cannot be stepped over; with `anchor` (bytes every payload carries), the bytes after the end are
 * searched for a whole record of this segment, and if one is found, what lies between is returned as one
 * `damaged` record and reading goes on from there. (A disk that cannot read a block fails the read, and the
 * start, instead.)
 */
export function readRecords(bytes: Buffer, segment: number, anchor?: Anchor): RecordRead[] {
  const out: RecordRead[] = [];
  let at = 0;
  for (;;) {
    const r = recordAt(bytes, at, segment);
    if (r?.ok) {
      out.push({ offset: at, payload: bytes.subarray(at + HEADER, at + HEADER + r.len) });
      at += HEADER + r.len;
      continue;
    }
    const stop = at;
    if (r) {
      const bad: RecordRead[] = [];
      let next: ReturnType<typeof recordAt> = r;
      for (; next && !next.ok; next = recordAt(bytes, at, segment)) {
        bad.push({ offset: at, payload: bytes.subarray(at + HEADER, at + HEADER + next.len), damaged: true });
        at += HEADER + next.len;
      }
      if (next) {
        for (const b of bad) out.push(b);
        continue;
      }
    }
    if (!anchor) break;
    const found = nextWhole(bytes, stop + 1, segment, anchor);
    if (found < 0) break;
    out.push({ offset: stop, payload: bytes.subarray(stop, found), damaged: true });
    at = found;
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
function makeSegment(dir: string, n: number, bytes: number): void {
  const file = join(dir, segmentName(n));
  const fd = openSync(file, 'w', 0o600);
  try {
    for (let at = 0; at < bytes; at += ZEROS.length) writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, bytes - at), at);
    fdatasyncSync(fd);
  } catch (e) {
    // a full disk: the part written is given back (LMDB's commit, which takes over, needs the room)
    try { unlinkSync(file); } catch { /* gone */ }
    throw e;
  } finally {
    closeSync(fd);
  }
  syncDir(dir);
}

/** How long the journal is not used after a segment could not be made (each try writes 16 MB). */
const BACK_OFF_MS = 60_000;

export class Journal {
  /** records appended to each segment and not settled yet */
  private readonly pending = new Map<number, number>();
  private fd: number;
  private offset = 0;
  private closed = false;
  /** a full segment whose records are all settled, kept to become the next one */
  private free: number | null = null;
  private removedHook: ((segment: number) => void) | null = null;
  private backOffUntil = 0;
  private readonly segmentBytes: number;

  private constructor(private readonly dir: string, private segment: number, private readonly leftOver: number[], opts: JournalOptions, made: boolean) {
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.pending.set(segment, 0);
    if (made) {
      this.fd = openSync(join(dir, segmentName(segment)), 'r+');
    } else {
      // no segment yet: the first record after the rest makes one
      this.fd = -1;
      this.offset = this.segmentBytes;
      this.backOffUntil = Date.now() + BACK_OFF_MS;
    }
  }

  /** Opens the journal in `dir` with a new segment. `records` are those of the segments left from before, oldest first. */
  static open(dir: string, opts: JournalOptions = {}): { journal: Journal; records: (Ticket & RecordRead)[] } {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const segments = readdirSync(dir).map((n) => NAME.exec(n)).filter((m): m is RegExpExecArray => !!m).map((m) => Number(m[1])).sort((a, b) => a - b);
      const records = segments.flatMap((segment) => readRecords(readFileSync(join(dir, segmentName(segment))), segment, opts.anchor).map((r) => ({ segment, ...r })));
      const next = (segments.at(-1) ?? 0) + 1;
      let made = true;
      try {
        makeSegment(dir, next, opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES);
      } catch {
        made = false; // a full disk, say: the journal starts paused, the spool takes every message meanwhile
      }
      return { journal: new Journal(dir, next, segments, opts, made), records };
    } catch (e) {
      throw new PhigateError('JOURNAL', `cannot open the acceptance journal in ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** False while the journal rests after a segment could not be made (the caller commits to LMDB instead). */
  get usable(): boolean {
    return !this.closed && Date.now() >= this.backOffUntil;
  }

  /** Called when a segment and all its records are gone (their applied marks can be dropped). */
  onRemoved(fn: (segment: number) => void): void {
    this.removedHook = fn;
  }

  /** The segment records are written to now. */
  get current(): number {
    return this.segment;
  }

  /** The largest payload a segment takes. */
  get maxPayload(): number {
    return this.segmentBytes - HEADER;
  }

  /**
   * Writes one record (the concatenation of `parts`) and syncs it, here on this thread; it is on disk when this
   * returns. Throws JournalWriteError (code JOURNAL).
   */
  append(parts: Buffer | Buffer[]): Ticket {
    const list = Array.isArray(parts) ? parts : [parts];
    if (this.closed) throw new JournalWriteError('the acceptance journal is closed', null);
    if (Date.now() < this.backOffUntil) throw new JournalWriteError('the acceptance journal rests: a segment could not be made a moment ago', null);
    const size = list.reduce((n, p) => n + p.length, 0);
    if (size > this.maxPayload) throw new JournalWriteError(`a journal record holds at most ${this.maxPayload} bytes`, null);
    if (this.offset + HEADER + size > this.segmentBytes) {
      try {
        this.rotate();
      } catch (e) {
        this.backOffUntil = Date.now() + BACK_OFF_MS;
        throw new JournalWriteError(`cannot start a new journal segment: ${(e as Error).message}`, null, e);
      }
    }
    const ticket = { segment: this.segment, offset: this.offset };
    const head = Buffer.alloc(HEADER);
    head.writeUInt32BE(size, 0);
    head.writeUInt32BE(checksum(this.segment, list), 4);
    const buffers = [head, ...list];
    try {
      const done = writevSync(this.fd, buffers, ticket.offset);
      if (done < HEADER + size) writeAll(this.fd, Buffer.concat(buffers).subarray(done), ticket.offset + done);
      fdatasyncSync(this.fd);
    } catch (e) {
      // the record may be whole on disk all the same: its length is zeroed (best effort), and later records go
      // to a new segment
      try {
        writeAll(this.fd, Buffer.alloc(4), ticket.offset);
        fdatasyncSync(this.fd);
      } catch { /* the caller's commit marks it applied too */ }
      this.offset = this.segmentBytes;
      throw new JournalWriteError(`acceptance journal write failed: ${(e as Error).message}`, ticket, e);
    }
    this.offset += HEADER + size;
    this.pending.set(ticket.segment, (this.pending.get(ticket.segment) ?? 0) + 1);
    return ticket;
  }

  /** The record behind `ticket` is applied to LMDB and synced there. */
  settled(ticket: Ticket): void {
    const n = (this.pending.get(ticket.segment) ?? 1) - 1;
    this.pending.set(ticket.segment, n);
    if (n <= 0 && ticket.segment !== this.segment) this.retire(ticket.segment);
  }

  /**
   * The left-over records are applied (or were) and synced: their segments go (deleted, never recycled), but
   * `keep`. Returns the segments still on disk (kept, or not deleted), whose marks must stay.
   */
  dropLeftOver(keep: ReadonlySet<number> = new Set()): number[] {
    const still: number[] = [];
    for (const s of this.leftOver.splice(0)) if (keep.has(s) || !this.remove(s)) still.push(s);
    return still;
  }

  /** Stops taking records; deletes the kept segment, and the current one if every record in it is settled. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd >= 0) closeSync(this.fd);
    if (this.free !== null) this.remove(this.free);
    this.free = null;
    if ((this.pending.get(this.segment) ?? 0) <= 0) this.remove(this.segment);
  }

  /** The next segment: the kept one renamed (its blocks are allocated), else a new one. */
  private rotate(): void {
    const old = this.segment;
    const next = old + 1;
    if (this.free !== null) {
      const kept = this.free;
      this.free = null;
      renameSync(join(this.dir, segmentName(kept)), join(this.dir, segmentName(next)));
      syncDir(this.dir);
      // its records read as stale now (another segment number): their marks can go
      this.removedHook?.(kept);
    } else {
      makeSegment(this.dir, next, this.segmentBytes);
    }
    // the new file is open before the old one is closed: a failure leaves this journal as it was
    const fd = openSync(join(this.dir, segmentName(next)), 'r+');
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = fd;
    this.segment = next;
    this.offset = 0;
    this.pending.set(next, 0);
    if ((this.pending.get(old) ?? 0) <= 0) this.retire(old);
  }

  /** A segment whose records are all settled: kept for the next rotation if none is, else deleted. */
  private retire(segment: number): void {
    this.pending.delete(segment);
    if (this.free === null && !this.closed && segment < this.segment) {
      // its records stay readable (and marked applied) until the rename in rotate makes them stale
      this.free = segment;
      return;
    }
    this.remove(segment);
  }

  /** Deletes a segment; its marks may go only once that is on disk (else a start could replay its records). */
  private remove(segment: number): boolean {
    this.pending.delete(segment);
    try {
      unlinkSync(join(this.dir, segmentName(segment)));
      syncDir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    }
    this.removedHook?.(segment);
    return true;
  }
}

function writeAll(fd: number, bytes: Buffer, at: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
}
