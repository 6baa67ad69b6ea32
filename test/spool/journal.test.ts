// The acceptance journal on real files: records survive a reopen in order, a torn or older record ends a
// segment's records, damaged records with a whole record after them are reported and stepped over, full segments
// are recycled (renamed, their old records no longer read) once every record in them is settled, and the limits
// hold.
import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Journal, readRecords, segmentName } from '../../src/spool/journal.js';

const SEG = 64 * 1024;
const dirOf = () => join(mkdtempSync(join(tmpdir(), 'phigate-journal-')), 'journal');
const payload = (n: number, size = 1000) => Buffer.alloc(size, n % 251);
const segments = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();
const recordsOf = (dir: string, n: number) => readRecords(readFileSync(join(dir, segmentName(n))), n);

test('records come back after a reopen, in order, with their tickets; the new segment is numbered above them', (t) => {
  const dir = dirOf();
  const { journal, records } = Journal.open(dir, { segmentBytes: SEG });
  t.deepEqual(records, []);
  t.is(journal.current, 1);
  t.is(statSync(join(dir, segmentName(1))).size, SEG, 'the segment is allocated in full when it is made');
  const tickets = [journal.append(payload(1, 10)), journal.append([payload(2, 1500), payload(2, 500)]), journal.append(payload(3, 1))];
  t.deepEqual(tickets.map((x) => x.offset), [0, 18, 2026]);
  // a crash: nothing closed; the next open reads them back (a record written in parts reads as one)
  const again = Journal.open(dir, { segmentBytes: SEG });
  t.is(again.journal.current, 2);
  t.deepEqual(again.records.map((r) => [r.segment, r.offset, r.payload.length, r.payload[0]]), [[1, 0, 10, 1], [1, 18, 2000, 2], [1, 2026, 1, 3]]);
  journal.close();
  again.journal.close();
});

test('a torn record, a damaged last record, a record of another segment and the zero-filled rest each end the records; a damaged record with records after it is reported', (t) => {
  const dir = dirOf();
  const { journal } = Journal.open(dir, { segmentBytes: SEG });
  for (let i = 1; i <= 4; i++) journal.append(payload(i, 500));
  const file = join(dir, segmentName(1));
  const bytes = readFileSync(file);
  t.is(readRecords(bytes, 1).length, 4, 'the zero-filled rest of the segment is not a record');
  t.deepEqual(readRecords(bytes, 2), [], "segment 1's records are not segment 2's (a recycled file's old records)");
  // one byte of the third record's payload flipped: a whole record follows it, so it is reported damaged and the
  // fourth is still read
  const damaged = Buffer.from(bytes);
  damaged.writeUInt8(damaged.readUInt8(2 * 508 + 8 + 100) ^ 0xff, 2 * 508 + 8 + 100);
  t.deepEqual(readRecords(damaged, 1).map((r) => [r.offset, r.damaged ?? false]), [[0, false], [508, false], [1016, true], [1524, false]]);
  // the second and third records damaged: stepped over by their lengths, both reported, the fourth read
  const twoDamaged = Buffer.from(damaged);
  twoDamaged.writeUInt8(twoDamaged.readUInt8(508 + 8 + 300) ^ 0x01, 508 + 8 + 300);
  t.deepEqual(readRecords(twoDamaged, 1).map((r) => [r.offset, r.damaged ?? false]), [[0, false], [508, true], [1016, true], [1524, false]]);
  // the last record damaged (as a torn last write reads): nothing whole follows, so the records end before it
  const lastDamaged = Buffer.from(bytes);
  lastDamaged.writeUInt8(lastDamaged.readUInt8(3 * 508 + 8 + 100) ^ 0xff, 3 * 508 + 8 + 100);
  t.deepEqual(readRecords(lastDamaged, 1).map((r) => [r.offset, r.damaged ?? false]), [[0, false], [508, false], [1016, false]]);
  // the fourth record cut short (a crash during its write)
  t.deepEqual(readRecords(bytes.subarray(0, 3 * 508 + 200), 1).map((r) => r.offset), [0, 508, 1016]);
  // a length that runs past the end of the segment
  const long = Buffer.from(bytes);
  long.writeUInt32BE(SEG, 508);
  t.deepEqual(readRecords(long, 1).map((r) => r.offset), [0]);
  // and on disk: a segment truncated mid-record reads the whole records before it
  truncateSync(file, 508 + 300);
  t.is(Journal.open(dir, { segmentBytes: SEG }).records.length, 1);
  journal.close();
});

test('a full segment rotates; once its records are settled it is kept, then renamed into the next segment, whose old records are not read', (t) => {
  const dir = dirOf();
  const { journal } = Journal.open(dir, { segmentBytes: SEG });
  const gone: number[] = [];
  journal.onRemoved((s) => gone.push(s));
  const first = [journal.append(payload(1, 30_000)), journal.append(payload(2, 30_000))];
  t.true(first.every((x) => x.segment === 1));
  const third = journal.append(payload(3, 30_000));
  t.is(third.segment, 2, 'the third record did not fit: a new segment');
  journal.settled(first[0]!);
  journal.settled(first[1]!);
  t.deepEqual(segments(dir), [segmentName(1), segmentName(2)], 'settled, segment 1 is kept for the next rotation');
  t.deepEqual(gone, [], 'its records stay readable (a crash now replays none of them: their marks stay)');
  const fourth = journal.append(payload(4, 30_000));
  const fifth = journal.append(payload(5, 30_000));
  t.is(fifth.segment, 3);
  t.deepEqual(segments(dir), [segmentName(2), segmentName(3)], 'segment 1 became segment 3');
  t.deepEqual(gone, [1], 'its records are stale now: their marks can go');
  // segment 3 holds the old records of segment 1 after the new one, at the very same offsets: only the new one reads
  t.deepEqual(recordsOf(dir, 3).map((r) => [r.offset, r.payload[0]]), [[0, 5]]);
  const again = Journal.open(dir, { segmentBytes: SEG });
  t.deepEqual(again.records.map((r) => [r.segment, r.payload[0]]), [[2, 3], [2, 4], [3, 5]]);
  again.journal.close();
  journal.settled(third);
  journal.settled(fourth);
  t.deepEqual(segments(dir), [segmentName(2), segmentName(3)], 'settled, segment 2 is the kept one now');
  journal.close();
  t.deepEqual(segments(dir), [segmentName(3)], 'close deletes the kept segment; the current one stays while a record in it is unsettled');
});

test('close keeps a segment that holds an unsettled record, and the next open hands it back', (t) => {
  const dir = dirOf();
  const { journal } = Journal.open(dir, { segmentBytes: SEG });
  const a = journal.append(payload(1, 100));
  journal.append(payload(2, 100));
  journal.settled(a);
  journal.close();
  t.deepEqual(segments(dir), [segmentName(1)]);
  const again = Journal.open(dir, { segmentBytes: SEG });
  t.is(again.records.length, 2, 'both records come back; the caller skips the one it has marked applied');
  again.journal.dropLeftOver();
  t.deepEqual(segments(dir), [segmentName(2)]);
  again.journal.close();
  t.deepEqual(segments(dir), [], 'a clean close with everything settled leaves no segment');
});

test('a record larger than a segment is refused with JOURNAL before anything is written; a closed journal refuses too', (t) => {
  const dir = dirOf();
  const { journal } = Journal.open(dir, { segmentBytes: SEG });
  const e = t.throws(() => journal.append(payload(1, SEG)));
  t.is((e as { code?: string }).code, 'JOURNAL');
  t.is(recordsOf(dir, 1).length, 0);
  t.is(journal.append(payload(2, journal.maxPayload)).offset, 0, 'the largest payload fits an empty segment');
  journal.close();
  t.is((t.throws(() => journal.append(payload(3))) as { code?: string }).code, 'JOURNAL');
});

test('a directory that cannot be made is a JOURNAL error naming it', (t) => {
  const base = mkdtempSync(join(tmpdir(), 'phigate-journal-'));
  writeFileSync(join(base, 'file'), 'not a directory');
  const e = t.throws(() => Journal.open(join(base, 'file', 'journal')));
  t.is((e as { code?: string }).code, 'JOURNAL');
  t.regex((e as Error).message, /cannot open the acceptance journal in .*file\/journal/);
  t.false(existsSync(join(base, 'file', 'journal')));
});

test('a segment that cannot be made (a file size limit stands in for a full disk) leaves no partial file: the journal rests, the old records are read', (t) => {
  const dir = dirOf();
  const { journal } = Journal.open(dir, { segmentBytes: SEG });
  journal.append(payload(7, 100));
  journal.close();
  // a child limited to 1 MB files opens the journal with its 16 MB segments
  const script = `import { Journal } from ${JSON.stringify(new URL('../../src/spool/journal.js', import.meta.url).href)};
    import { readdirSync } from 'node:fs';
    const { journal, records } = Journal.open(process.argv[1]);
    let code = null;
    try { journal.append(Buffer.from('x')); } catch (e) { code = e.code; }
    const files = readdirSync(process.argv[1]).sort();
    console.log(JSON.stringify({ usable: journal.usable, records: records.length, code, files }));`;
  const out = execFileSync('bash', ['-c', 'ulimit -f 1024; exec "$@"', 'bash', process.execPath, '--input-type=module', '-e', script, dir], { encoding: 'utf8' });
  t.deepEqual(JSON.parse(out), { usable: false, records: 1, code: 'JOURNAL', files: [segmentName(1)] }, 'no partial segment 2 is left behind; the old segment stays');
});

/** A record of `segment` as the journal frames it: length, CRC-32 of the segment number and the payload, payload. */
function frame(segment: number, body: Buffer): Buffer {
  const n = Buffer.alloc(4);
  n.writeUInt32BE(segment, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.writeUInt32BE(crc32(body, crc32(n)), 4);
  return Buffer.concat([head, body]);
}

test('a recycled segment whose new records differ in length from the old ones reads exactly the new ones; a torn last write over old records ends them', (t) => {
  // segment 1's records (random bytes, as sealed ones are), then the same file reused as segment 3
  const old = Buffer.concat(Array.from({ length: 60 }, (_, i) => frame(1, randomBytes(700 + i))));
  const file = Buffer.alloc(64 * 1024);
  old.copy(file);
  const fresh = Buffer.concat([frame(3, randomBytes(333)), frame(3, randomBytes(1234)), frame(3, randomBytes(50))]);
  const recycled = Buffer.from(file);
  fresh.copy(recycled, 0);
  t.deepEqual(readRecords(recycled, 3).map((r) => [r.offset, r.payload.length, r.damaged ?? false]), [[0, 333, false], [341, 1234, false], [1583, 50, false]]);
  // the third new record cut short by a crash: its header and 12 bytes of its payload, old bytes after that
  const torn = Buffer.from(file);
  fresh.subarray(0, 1583 + 8 + 12).copy(torn, 0);
  t.deepEqual(readRecords(torn, 3).map((r) => [r.offset, r.damaged ?? false]), [[0, false], [341, false]]);
});

test('with the anchor every payload carries, reading finds the records after a damaged length field, and nothing more', (t) => {
  const anchor = { offset: 2, bytes: Buffer.from('AN') };
  const body = (n: number) => Buffer.concat([randomBytes(2), anchor.bytes, randomBytes(300 + n * 37)]);
  const records = [1, 2, 3, 4, 5].map((n) => frame(7, body(n)));
  const offsets = records.reduce<number[]>((acc, r, i) => [...acc, i ? acc[i - 1]! + records[i - 1]!.length : 0], []);
  const file = Buffer.alloc(64 * 1024);
  Buffer.concat(records).copy(file);
  const read = (bytes: Buffer, withShape = true) => readRecords(bytes, 7, withShape ? anchor : undefined).map((r) => [r.offset, r.damaged ?? false]);
  t.deepEqual(read(file), offsets.map((o) => [o, false]), 'a clean segment: its records, no damage found in the zero-filled rest');
  // the second record's length field damaged: without the shape the reading ends there; with it, the records
  // after it are found and what lies between is one damaged record
  const longer = Buffer.from(file);
  longer.writeUInt32BE(50_000, offsets[1]!);
  t.deepEqual(read(longer, false), [[0, false]]);
  t.deepEqual(read(longer), [[0, false], [offsets[1]!, true], [offsets[2]!, false], [offsets[3]!, false], [offsets[4]!, false]]);
  const zeroed = Buffer.from(file);
  zeroed.writeUInt32BE(0, offsets[1]!);
  t.deepEqual(read(zeroed), [[0, false], [offsets[1]!, true], [offsets[2]!, false], [offsets[3]!, false], [offsets[4]!, false]], 'a length zeroed by damage does not pass for the end');
  // a recycled file: the new records, then old ones of segment 5 of the same shape: exactly the new ones
  const recycled = Buffer.alloc(64 * 1024);
  Buffer.concat(Array.from({ length: 40 }, (_, i) => frame(5, body(i)))).copy(recycled);
  Buffer.concat(records.slice(0, 2)).copy(recycled);
  t.deepEqual(read(recycled), [[0, false], [offsets[1]!, false]]);
  // the last record torn: the records before it, no damage reported
  const torn = Buffer.alloc(64 * 1024);
  Buffer.concat(records).subarray(0, offsets[4]! + 100).copy(torn);
  t.deepEqual(read(torn), offsets.slice(0, 4).map((o) => [o, false]));
});
