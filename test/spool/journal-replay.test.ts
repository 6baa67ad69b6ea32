// Replay of the acceptance journal at start, with the real gateway: a record a crash left in the journal only is
// spooled, audited at its time of receipt and delivered; a record LMDB had already applied (its mark is there)
// is not applied or sent again; the left-over segment and its marks are gone afterwards.
import test, { type ExecutionContext } from 'ava';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeGatewayDir, noDns, runCli, startTestGateway, type GatewayDir } from '../helpers/gateway.js';
import { startSink, type Sink } from '../helpers/sink.js';
import { swaks } from '../helpers/swaks.js';
import { openStore, type Store } from '../../src/store.js';
import { startGateway } from '../../src/gateway.js';
import { keyringCache } from '../../src/master-key.js';
import { Journal } from '../../src/spool/journal.js';
import { JOURNAL_MARK, journalMark, journalRecord } from '../../src/spool/journal-record.js';
import { newEntry } from '../../src/spool/spool.js';
import { newQueueId } from '../../src/spool/ids.js';
import { queryAudit } from '../../src/audit/query.js';
import type { Queued } from '../../src/envelope.js';

const message = (marker: string) => Buffer.from(
  `From: <ehr@clinic.test>\r\nTo: <p@example.net>\r\nSubject: journal ${marker}\r\nMessage-ID: <${marker}@clinic.test>\r\nX-Journal-Marker: ${marker}\r\n\r\nbody of ${marker}\r\n`,
);

function entryFor(bytes: Buffer, marker: string, receivedAt: number): Queued {
  return {
    ...newEntry({
      queueId: newQueueId(receivedAt), kind: 'message', messageId: `${marker}@clinic.test`, fromDomain: 'clinic.test', sender: 'ehr@clinic.test',
      recipients: ['p@example.net'], client: { listener: 'relay', clientIp: '127.0.0.1' }, size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'), receivedAt,
    }, receivedAt),
    undecided: true,
  };
}

/** A sink, and a gateway directory routing everything to it in clear, after a first start made its key and store. */
async function setup(t: ExecutionContext): Promise<{ sink: Sink; d: GatewayDir; journalDir: string; openSealing: () => Store }> {
  const sink = await startSink();
  t.teardown(() => sink.close());
  const d = makeGatewayDir({ outbound: { routes: { '*': `127.0.0.1:${sink.port}` }, tls: { '*': 'none' }, caFile: null, retry: { schedule: ['1s'], maxAge: '1h' } } });
  await (await startTestGateway(d)).stop();
  const dataDir = join(d.dir, 'data');
  return { sink, d, journalDir: join(dataDir, 'journal'), openSealing: () => openStore(dataDir, { keyring: keyringCache(join(d.dir, 'certs', 'master.key')) }) };
}

/** A journal record as the gateway writes it. */
const recordOf = (store: Store, x: { bytes: Buffer; entry: Queued }) => journalRecord(
  store.messages.seal(Buffer.from(JSON.stringify({ entry: x.entry, passphrase: null }), 'utf8')), store.messages.seal(x.bytes),
);

const hasMarker = (sink: Sink, marker: string) => sink.messages.some((m) => m.bytes.includes(`X-Journal-Marker: ${marker}`));

/** Waits up to 20 s for `done`. */
async function until(done: () => boolean): Promise<void> {
  const end = Date.now() + 20_000;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
}

test('a record left in the journal only is spooled, audited and delivered at start; one LMDB had applied is not sent again', async (t) => {
  t.timeout(60_000);
  const { sink, d, journalDir, openSealing } = await setup(t);
  // what a crash leaves: two journaled acceptances, the second already applied to LMDB (its mark is there)
  const store = openSealing();
  const receivedAt = Date.now() - 60_000;
  const [lost, applied] = ['lost-1', 'applied-2'].map((m) => ({ marker: m, bytes: message(m), entry: entryFor(message(m), m, receivedAt) }));
  const { journal } = Journal.open(journalDir);
  const tickets = [lost!, applied!].map((x) => journal.append(recordOf(store, x)));
  await store.env.transaction(() => { void store.meta.put(journalMark(tickets[1]!), applied!.entry.queueId); });
  await store.close();
  journal.close();
  const leftOver = readdirSync(journalDir);

  const gw = await startTestGateway(d);
  t.teardown(() => gw.stop());
  await until(() => hasMarker(sink, 'lost-1'));
  t.true(hasMarker(sink, 'lost-1'), 'the journaled message is delivered after the restart');
  await until(() => queryAudit(gw.store, { queueId: lost!.entry.queueId, event: 'delivered' }).length > 0);
  const events = queryAudit(gw.store, { queueId: lost!.entry.queueId });
  t.deepEqual(events.slice(0, 2).map((e) => e.event), ['received', 'queued']);
  t.is(events[0]!.time, new Date(receivedAt).toISOString(), 'received at the time of receipt, not of the replay');
  t.true(events.some((e) => e.event === 'delivered'));
  t.false(hasMarker(sink, 'applied-2'), 'the applied record is not applied again');
  t.deepEqual(queryAudit(gw.store, { queueId: applied!.entry.queueId }), []);

  const now = readdirSync(journalDir);
  t.false(now.some((n) => leftOver.includes(n)), `the left-over segment is gone (${leftOver.join()} -> ${now.join()})`);
  t.deepEqual([...gw.store.meta.getKeys({ start: JOURNAL_MARK, end: JOURNAL_MARK + '~' })].filter((k) => (k as string) < journalMark({ segment: Number(now[0]!.slice(0, 10)), offset: 0 })), [], 'no marks of deleted segments remain');
  await gw.stop();
  const v = await runCli(['audit', 'verify', '--config', d.configFile]);
  t.is(v.code, 0, v.stderr + v.stdout);
});

test('after a clean stop the next start drops every mark, so a record at a reused segment number is not taken for an applied one', async (t) => {
  t.timeout(60_000);
  const { sink, d, journalDir, openSealing } = await setup(t);
  // run 1 journals a message at segment 1, offset 0, marks it applied, and stops cleanly (the journal is empty
  // afterwards; the mark is left for the next start to drop)
  const first = { bytes: message('first-1'), entry: entryFor(message('first-1'), 'first-1', Date.now()) };
  let store = openSealing();
  const j1 = Journal.open(journalDir).journal;
  const t1 = j1.append(recordOf(store, first));
  await store.env.transaction(() => { void store.meta.put(journalMark(t1), first.entry.queueId); });
  await store.close();
  j1.settled(t1);
  j1.close();
  t.deepEqual(readdirSync(journalDir), [], 'a clean stop leaves no segment');

  // run 2 starts (dropping that mark) and stops; then a record lands at segment 1, offset 0 again and the
  // gateway dies before LMDB has it
  await (await startTestGateway(d)).stop();
  store = openSealing();
  t.deepEqual([...store.meta.getKeys({ start: JOURNAL_MARK, end: JOURNAL_MARK + '~' })], [], 'the start dropped every mark');
  const second = { bytes: message('second-2'), entry: entryFor(message('second-2'), 'second-2', Date.now()) };
  const j2 = Journal.open(journalDir).journal;
  const t2 = j2.append(recordOf(store, second));
  t.deepEqual(t2, t1, 'the same segment number and offset as the first record');
  await store.close();
  j2.close();

  const gw = await startTestGateway(d);
  t.teardown(() => gw.stop());
  await until(() => hasMarker(sink, 'second-2'));
  t.true(hasMarker(sink, 'second-2'), 'the record at the reused number is replayed and delivered');
});

test('a segment with a record that cannot be read is kept, and marks left by an earlier run never hide a new record at the same place', async (t) => {
  t.timeout(90_000);
  const { sink, d, journalDir } = await setup(t);
  // a whole record (its checksum holds) that does not unseal: the key it was sealed with is gone, say
  const bad = Journal.open(journalDir).journal;
  bad.append(Buffer.from('\0\0\0\x05sealed with a key that is gone'));
  bad.close();
  const badSegment = readdirSync(journalDir);

  const sendOne = async (marker: string) => {
    const gw = await startTestGateway(d);
    const r = await swaks(['--server', '127.0.0.1', '--port', String(gw.listeners.addresses['relay']!.port), '--from', 'ehr@clinic.test', '--to', 'p@example.net',
      '--header', `X-Journal-Marker: ${marker}`, '--body', `body of ${marker}`]);
    t.is(r.code, 0, r.out);
    await until(() => hasMarker(sink, marker));
    const marks = [...gw.store.meta.getKeys({ start: JOURNAL_MARK, end: JOURNAL_MARK + '~' })] as string[];
    await gw.stop();
    return marks;
  };
  // each run: the unreadable segment stays; the message (journaled: one client) is delivered
  const marks1 = await sendOne('run-1');
  t.true(hasMarker(sink, 'run-1'));
  t.true(readdirSync(journalDir).includes(badSegment[0]!), 'the segment with the unreadable record is kept');
  const marks2 = await sendOne('run-2');
  t.true(marks1.some((k) => marks2.includes(k)), `the second run wrote its record where the first did (${marks1.join()} / ${marks2.join()})`);
  t.true(hasMarker(sink, 'run-2'), 'the second message is delivered, not taken for the first');
  t.true(readdirSync(journalDir).includes(badSegment[0]!));
});

test('a record that unseals but is not a journal record is logged without a word of its text, and its segment is kept', async (t) => {
  t.timeout(60_000);
  const { d, journalDir, openSealing } = await setup(t);
  const store = openSealing();
  const journal = Journal.open(journalDir).journal;
  journal.append(journalRecord(store.messages.seal(Buffer.from('ann.patient@example.org, not JSON', 'utf8')), store.messages.seal(message('x'))));
  journal.close();
  await store.close();
  const kept = readdirSync(journalDir);
  const logs: string[] = [];
  const gw = await startGateway({ configFile: d.configFile, log: pino({ level: 'info' }, new Writable({ write(c, _e, cb) { logs.push(String(c)); cb(); } })), resolver: noDns, rescanMs: 500 });
  await gw.stop();
  const line = logs.find((l) => l.includes('journal record cannot be read'));
  t.truthy(line, logs.join(''));
  t.regex(line!, /not a journal record this version can read/);
  t.false(logs.join('').includes('ann.patient'), 'no part of the unsealed text reaches the log');
  t.true(readdirSync(journalDir).includes(kept[0]!), 'its segment is kept');
});

const damagedMacro = test.macro(async (t, where: 'payload' | 'length') => {
  t.timeout(60_000);
  const { sink, d, journalDir, openSealing } = await setup(t);
  const store = openSealing();
  const receivedAt = Date.now() - 60_000;
  const [before, hurt, after] = ['before-1', 'hurt-2', 'after-3'].map((m) => ({ bytes: message(m), entry: entryFor(message(m), m, receivedAt) }));
  const { journal } = Journal.open(journalDir);
  const tickets = [before!, hurt!, after!].map((x) => journal.append(recordOf(store, x)));
  journal.close();
  await store.close();
  const [segment] = readdirSync(journalDir);
  // one byte flipped on disk: in the middle of the second record's payload, or in the top byte of its length
  // (which then runs past the segment's end: only the search for the next record's anchor gets past it)
  const file = join(journalDir, segment!);
  const bytes = readFileSync(file);
  const at = tickets[1]!.offset + (where === 'payload' ? 8 + 40 : 0);
  bytes[at] = bytes[at]! ^ 0xff;
  writeFileSync(file, bytes);

  const logs: string[] = [];
  const gw = await startGateway({ configFile: d.configFile, log: pino({ level: 'info' }, new Writable({ write(c, _e, cb) { logs.push(String(c)); cb(); } })), resolver: noDns, rescanMs: 500 });
  t.teardown(() => gw.stop());
  await until(() => hasMarker(sink, 'before-1') && hasMarker(sink, 'after-3'));
  t.true(hasMarker(sink, 'before-1'));
  t.true(hasMarker(sink, 'after-3'), 'the record after the damaged one is replayed and delivered');
  // the damaged record is not delivered (it could not be unsealed either); the log line below shows that the
  // checksum, not the unsealing, stopped it
  t.false(hasMarker(sink, 'hurt-2'));
  const line = logs.find((l) => l.includes('journal record cannot be read'));
  t.truthy(line, 'the damaged record is logged');
  t.regex(line!, /fails its checksum/);
  t.regex(line!, new RegExp(`"offset":${tickets[1]!.offset}\\b`));
  await gw.stop();
  t.true(readdirSync(journalDir).includes(segment!), 'the segment with the damaged record is kept for an operator');
});

test('a record damaged in the middle of a segment is logged and its segment kept; the records after it are still delivered', damagedMacro, 'payload');
test('a record whose length field is damaged is logged and its segment kept; the records after it are still delivered', damagedMacro, 'length');
