// The acceptance journal on real files: records survive a reopen in order, a torn or damaged record ends a
// segment's records, full segments rotate and go once every record in them is settled, and the limits hold.
import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, readRecords, segmentName } from '../../src/spool/journal.js';

const SEG = 64 * 1024;
const dirOf = () => join(mkdtempSync(join(tmpdir(), 'phigate-journal-')), 'journal');
const payload = (n: number, size = 1000) => Buffer.alloc(size, n % 251);
const segments = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();

test('records come back after a reopen, in order, with their tickets; the new segment is numbered above them', async (t) => {
  const dir = dirOf();
  const { journal, records } = Journal.open(dir, 0, { segmentBytes: SEG });
  t.deepEqual(records, []);
  t.is(journal.current, 1);
  t.is(statSync(join(dir, segmentName(1))).size, SEG, 'the segment is allocated in full when it is made');
  const tickets = [journal.append(payload(1, 10)), journal.append(payload(2, 2000)), journal.append(payload(3, 1))];
  t.deepEqual(tickets.map((x) => x.offset), [0, 18, 2026]);
  // a crash: nothing closed; the next open reads them back
  const again = Journal.open(dir, 0, { segmentBytes: SEG });
  t.is(again.journal.current, 2);
  t.deepEqual(again.records.map((r) => [r.segment, r.offset, r.payload.length, r.payload[0]]), [[1, 0, 10, 1], [1, 18, 2000, 2], [1, 2026, 1, 3]]);
  // minSegment keeps numbers rising after a clean stop deleted every segment
  const third = Journal.open(dirOf(), 41, { segmentBytes: SEG });
  t.is(third.journal.current, 42);
  await Promise.all([journal.close(), again.journal.close(), third.journal.close()]);
});

test('a torn record, a damaged record and the zero-filled rest each end the records', (t) => {
  const dir = dirOf();
  const { journal } = Journal.open(dir, 0, { segmentBytes: SEG });
  for (let i = 1; i <= 4; i++) journal.append(payload(i, 500));
  const file = join(dir, segmentName(1));
  const bytes = readFileSync(file);
  t.is(readRecords(bytes).length, 4, 'the zero-filled rest of the segment is not a record');
  // one byte of the third record's payload flipped: the first two remain
  const damaged = Buffer.from(bytes);
  damaged.writeUInt8(damaged.readUInt8(2 * 508 + 8 + 100) ^ 0xff, 2 * 508 + 8 + 100);
  t.deepEqual(readRecords(damaged).map((r) => r.offset), [0, 508]);
  // the fourth record cut short (a crash during its write)
  const torn = bytes.subarray(0, 3 * 508 + 200);
  t.deepEqual(readRecords(torn).map((r) => r.offset), [0, 508, 1016]);
  // a length that runs past the end of the segment
  const long = Buffer.from(bytes);
  long.writeUInt32BE(SEG, 508);
  t.deepEqual(readRecords(long).map((r) => r.offset), [0]);
  // and on disk: a segment truncated mid-record reads the whole records before it
  truncateSync(file, 508 + 300);
  t.is(Journal.open(dir, 0, { segmentBytes: SEG }).records.length, 1);
});

test('a full segment rotates; it is deleted once all its records are settled, and the hook hears of it', async (t) => {
  const dir = dirOf();
  const { journal } = Journal.open(dir, 0, { segmentBytes: SEG });
  const removed: number[] = [];
  journal.onRemoved((s) => removed.push(s));
  const first = [journal.append(payload(1, 30_000)), journal.append(payload(2, 30_000))];
  t.true(first.every((x) => x.segment === 1));
  await new Promise((r) => setTimeout(r, 300)); // the spare, begun when the segment was half full, is ready
  const third = journal.append(payload(3, 30_000));
  t.is(third.segment, 2, 'the third record did not fit: a new segment');
  t.true(existsSync(join(dir, segmentName(1))), 'not deleted while its records are unsettled');
  journal.settled(first[0]!);
  t.true(existsSync(join(dir, segmentName(1))));
  journal.settled(first[1]!);
  t.false(existsSync(join(dir, segmentName(1))), 'deleted once every record in it is settled');
  t.deepEqual(removed, [1]);
  // the current segment stays while it is written to, even with everything settled
  journal.settled(third);
  t.true(existsSync(join(dir, segmentName(2))));
  await journal.close();
  t.deepEqual(segments(dir), [], 'a clean close leaves no segment (nor the spare made in the background)');
  t.deepEqual(removed, [1, 2]);
});

test('close keeps a segment that holds an unsettled record, and the next open hands it back', async (t) => {
  const dir = dirOf();
  const { journal } = Journal.open(dir, 0, { segmentBytes: SEG });
  const a = journal.append(payload(1, 100));
  journal.append(payload(2, 100));
  journal.settled(a);
  await journal.close();
  t.deepEqual(segments(dir), [segmentName(1)]);
  const again = Journal.open(dir, 0, { segmentBytes: SEG });
  t.is(again.records.length, 2, 'both records come back; the caller skips the one it has marked applied');
  again.journal.dropLeftOver();
  t.deepEqual(segments(dir), [segmentName(2)]);
  await again.journal.close();
});

test('a record larger than a segment is refused with JOURNAL before anything is written; a closed journal refuses too', async (t) => {
  const dir = dirOf();
  const { journal } = Journal.open(dir, 0, { segmentBytes: SEG });
  const e = t.throws(() => journal.append(payload(1, SEG)));
  t.is((e as { code?: string }).code, 'JOURNAL');
  t.is(readRecords(readFileSync(join(dir, segmentName(1)))).length, 0);
  t.is(journal.append(payload(2, journal.maxPayload)).offset, 0, 'the largest payload fits an empty segment');
  await journal.close();
  t.is((t.throws(() => journal.append(payload(3))) as { code?: string }).code, 'JOURNAL');
});

test('a directory that cannot be made is a JOURNAL error naming it', (t) => {
  const base = mkdtempSync(join(tmpdir(), 'phigate-journal-'));
  writeFileSync(join(base, 'file'), 'not a directory');
  const e = t.throws(() => Journal.open(join(base, 'file', 'journal')));
  t.is((e as { code?: string }).code, 'JOURNAL');
  t.regex((e as Error).message, /cannot open the acceptance journal in .*file\/journal/);
});
