// Index entries deferred at DATA: records appended with deferIndex have no index entries yet, yet every kind of
// query finds them (read directly after the indexed ones) and verify passes, saying how many wait; the next
// ordinary append, or indexAuditTail, writes them. A removed index entry of an indexed record is still caught,
// and moving the watermark back hides nothing.
import test from 'ava';
import { appendInTxn, indexAuditTail, indexedThrough, indexKeys } from '../../src/audit/append.js';
import { queryAudit } from '../../src/audit/query.js';
import { verifyAudit } from '../../src/audit/verify.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { tempStore, writeSyntheticTrail } from './kit.js';

const accept = (i: number) => ({ event: 'received' as const, queueId: `QD${i}`, messageId: `deferred-${i}`, sender: `s${i}@clinic.test`, recipients: [`r${i}@example.net`], details: {} });

test('deferred records are found by every kind of query and verify, then indexed by the next ordinary append', (t) => {
  const { store } = tempStore(t);
  writeSyntheticTrail(store, 3); // 15 records, indexed as written (a trail from before deferring existed)
  t.is(indexedThrough(store), 15);
  const recs = store.env.transactionSync(() => [1, 2].map((i) => appendInTxn(store, accept(i), new Date(), { deferIndex: true })));
  t.is(indexedThrough(store), 15);
  for (const r of recs) t.false(indexKeys(r).some((k) => store.auditIndex.doesExist(k)), 'no index entry written yet');
  for (const q of [{ messageId: 'deferred-2' }, { queueId: 'QD2' }, { recipient: 'R2@example.net' }, { sender: 's2@clinic.test' }, { event: 'received' as const, since: new Date(Date.now() - 60_000) }]) {
    const found = queryAudit(store, q);
    t.true(found.some((r) => r.seq === recs[1]!.seq), `found by ${JSON.stringify(q)}`);
    t.true(found.every((r, i) => i === 0 || r.seq > found[i - 1]!.seq), 'in trail order');
  }
  t.like(verifyAudit(store), { ok: true, records: 17, unindexed: 2 });

  const next = store.env.transactionSync(() => appendInTxn(store, { event: 'delivered', queueId: 'QD1', messageId: 'deferred-1', recipient: 'r1@example.net' }));
  t.is(indexedThrough(store), next.seq);
  for (const r of [...recs, next]) t.true(indexKeys(r).every((k) => store.auditIndex.doesExist(k)), `record ${r.seq} indexed`);
  const v = verifyAudit(store);
  t.true(v.ok);
  t.is(v.unindexed, undefined);
});

test('indexAuditTail indexes what waits; a removed entry of an indexed record is caught; a lowered watermark hides nothing', (t) => {
  const { store } = tempStore(t);
  const recs = store.env.transactionSync(() => [1, 2, 3].map((i) => appendInTxn(store, accept(i), new Date(), { deferIndex: true })));
  t.is(indexedThrough(store), 0);
  t.is(store.env.transactionSync(() => indexAuditTail(store)), 3);
  t.is(store.env.transactionSync(() => indexAuditTail(store)), 0, 'nothing left');
  t.is(indexedThrough(store), 3);

  const key = indexKeys(recs[1]!).find((k) => k[0] === 'm')!;
  store.auditIndex.removeSync(key);
  t.like(verifyAudit(store), { ok: false, firstBad: { seq: recs[1]!.seq } });

  // a tamperer who moves the watermark back to skip that check makes the record readable directly instead
  store.meta.putSync('audit-indexed', 0);
  const found = queryAudit(store, { messageId: 'deferred-2' });
  t.deepEqual(found.map((r: AuditRecord) => r.seq), [recs[1]!.seq]);
  // and a watermark that is no record number is named by verify, while queries still read every record
  for (const bad of ['3', -5, 1e12, { seq: 3 }]) {
    store.meta.putSync('audit-indexed', bad);
    const v = verifyAudit(store);
    t.false(v.ok, `watermark ${JSON.stringify(bad)}`);
    t.regex(v.firstBad!.reason, /index watermark/);
    t.deepEqual(queryAudit(store, { messageId: 'deferred-2' }).map((r: AuditRecord) => r.seq), [recs[1]!.seq]);
  }
});
