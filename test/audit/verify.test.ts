// verifyAudit on a real LMDB store: an intact trail verifies; each kind of tampering is caught and the first bad
// record is named.
import test from 'ava';
import { verifyAudit } from '../../src/audit/verify.js';
import { appendDurable, appendInTxn, auditHead } from '../../src/audit/append.js';
import { hashRecord, type AuditRecord } from '../../src/audit/record.js';
import { queryAudit } from '../../src/audit/query.js';
import { tempStore, writeSyntheticTrail } from './kit.js';

test('an intact trail verifies and reports its head', (t) => {
  const { store } = tempStore(t);
  writeSyntheticTrail(store, 20);
  const r = verifyAudit(store);
  t.true(r.ok);
  t.is(r.records, 100);
  t.is(r.headSeq, 100);
  t.deepEqual(auditHead(store), { seq: 100, hash: r.headHash });
  t.is((store.audit.get(100) as AuditRecord).hash, r.headHash);
});

test('an empty trail verifies', (t) => {
  const { store } = tempStore(t);
  t.like(verifyAudit(store), { ok: true, records: 0 });
});

test('details that JSON rewrites (a Date, a Buffer) still verify after the store round trip', async (t) => {
  const { store } = tempStore(t);
  await appendDurable(store, [{ event: 'admin', actor: 'root', details: { at: new Date(), raw: Buffer.from('x'), gone: undefined } }]);
  await appendDurable(store, [{ event: 'admin', actor: 'root', details: { action: 'next' } }]);
  t.like(verifyAudit(store), { ok: true, records: 2 });
});

test('an altered record that keeps its hash is named', (t) => {
  const { store } = tempStore(t);
  writeSyntheticTrail(store, 4);
  const rec = store.audit.get(3) as AuditRecord;
  store.audit.putSync(3, { ...rec, details: { ...rec.details, recipients: 99 } });
  t.like(verifyAudit(store), { ok: false, firstBad: { seq: 3 } });
  t.regex(verifyAudit(store).firstBad!.reason, /altered/);
});

test('an altered record whose own hash was recomputed is caught at the next record', (t) => {
  const { store } = tempStore(t);
  writeSyntheticTrail(store, 4);
  const rec = store.audit.get(3) as AuditRecord;
  const forged = { ...rec, details: { ...rec.details, recipients: 99 } };
  forged.hash = hashRecord(forged);
  store.audit.putSync(3, forged);
  const r = verifyAudit(store);
  t.like(r, { ok: false, firstBad: { seq: 4 } });
  t.regex(r.firstBad!.reason, /prev/);
});

test('a removed last record is caught by the stored head', (t) => {
  const { store } = tempStore(t);
  writeSyntheticTrail(store, 4);
  store.audit.removeSync(20);
  const r = verifyAudit(store);
  t.like(r, { ok: false, firstBad: { seq: 20 } });
  t.regex(r.firstBad!.reason, /head/);
});

test('a removed record in the middle is named', (t) => {
  const { store } = tempStore(t);
  writeSyntheticTrail(store, 4);
  store.audit.removeSync(7);
  t.like(verifyAudit(store), { ok: false, firstBad: { seq: 7 } });
});

test('a removed index entry, which would hide a record from queries, is caught', (t) => {
  const { store } = tempStore(t);
  writeSyntheticTrail(store, 4);
  t.is(queryAudit(store, { messageId: 'msg-2' }).length, 5);
  store.auditIndex.removeSync(['m', 'msg-2', 13]);
  t.is(queryAudit(store, { messageId: 'msg-2' }).length, 4, 'the record is now hidden from the query');
  const r = verifyAudit(store);
  t.like(r, { ok: false, firstBad: { seq: 13 } });
  t.regex(r.firstBad!.reason, /messageId index/);
});

test('appends in one transaction chain in order', (t) => {
  const { store } = tempStore(t);
  const recs = store.env.transactionSync(() => [
    appendInTxn(store, { event: 'admin', actor: 'a' }),
    appendInTxn(store, { event: 'admin', actor: 'b' }),
  ]);
  t.deepEqual(recs.map((r) => r.seq), [1, 2]);
  t.is(recs[1]!.prev, recs[0]!.hash);
  t.true(verifyAudit(store).ok);
});
