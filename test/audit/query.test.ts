// Audit queries are served from the secondary indexes: the planner picks the index, and a query among 2,000
// records reads only the records it returns (counted by wrapping the audit database's get), never a scan.
import test from 'ava';
import { plan, queryAudit } from '../../src/audit/query.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { appendInTxn } from '../../src/audit/append.js';
import { BASE_TIME, instrument, tempStore, writeSyntheticTrail } from './kit.js';

test('plan picks the index for each kind of filter, the most selective first', (t) => {
  const since = new Date(BASE_TIME);
  t.is(plan({ messageId: 'a' }).index, 'messageId');
  t.is(plan({ queueId: 'Q1' }).index, 'queueId');
  t.is(plan({ recipient: 'p@x' }).index, 'recipient');
  t.is(plan({ sender: 's@x' }).index, 'sender');
  t.is(plan({ sender: '' }).index, 'sender', 'the null sender is a sender');
  t.is(plan({ since }).index, 'time');
  t.is(plan({ until: since }).index, 'time');
  t.is(plan({ event: 'bounced' }).index, 'event');
  t.is(plan({ messageId: 'a', recipient: 'p@x', sender: 's@x', since, event: 'delivered' }).index, 'messageId');
  t.is(plan({ queueId: 'Q1', recipient: 'p@x', since }).index, 'queueId');
  t.is(plan({ recipient: 'p@x', sender: 's@x', since }).index, 'recipient');
  t.is(plan({ sender: 's@x', since, event: 'delivered' }).index, 'sender');
  t.is(plan({ since, event: 'delivered' }).index, 'time');
  t.is(plan({}).index, 'scan');
});

test('a query among 2,000 records reads only the records of its answer', (t) => {
  const { store } = tempStore(t);
  const msgs = writeSyntheticTrail(store, 400);
  t.true(verifyAudit(store).ok);
  t.is(verifyAudit(store).records, 2000);
  const probe = instrument(store);
  const run = (q: Parameters<typeof queryAudit>[1]) => {
    probe.reset();
    const rows = queryAudit(store, q);
    return { rows, gets: probe.gets() };
  };

  // message id "msg-1" is a prefix of msg-10..msg-199: only its own five records are read
  let r = run({ messageId: 'msg-1' });
  t.deepEqual(r.rows.map((x) => x.event), ['received', 'queued', 'dkim-signed', 'delivery-attempt', 'delivered']);
  t.true(r.rows.every((x) => x.messageId === 'msg-1'));
  t.is(r.gets, 5);

  r = run({ queueId: 'Q4' });
  t.is(r.rows.length, 5);
  t.true(r.rows.every((x) => x.queueId === 'Q4'));
  t.is(r.gets, 5);

  // recipient, case-insensitive: received, queued, delivery-attempt (recipients) and delivered (recipient)
  r = run({ recipient: 'P17@Example.NET' });
  t.deepEqual(r.rows.map((x) => x.event), ['received', 'queued', 'delivery-attempt', 'delivered']);
  t.is(r.gets, 4);

  const bySender = msgs.filter((m) => m.sender === 'sender3@clinic.test').length * 5;
  r = run({ sender: 'Sender3@clinic.test' });
  t.is(r.rows.length, bySender);
  t.true(r.rows.every((x) => x.sender === 'sender3@clinic.test'));
  t.is(r.gets, bySender);

  // time window: messages 100..104 (five records each), oldest first
  r = run({ since: new Date(BASE_TIME + 100_000), until: new Date(BASE_TIME + 104_999) });
  t.is(r.rows.length, 25);
  t.deepEqual([...new Set(r.rows.map((x) => x.messageId))], ['msg-100', 'msg-101', 'msg-102', 'msg-103', 'msg-104']);
  t.deepEqual(r.rows.map((x) => x.seq), [...r.rows.map((x) => x.seq)].sort((a, b) => a - b));
  t.is(r.gets, 25);

  // the driving index narrows, the other filters only drop
  r = run({ messageId: 'msg-250', event: 'delivered' });
  t.is(r.rows.length, 1);
  t.is(r.gets, 5);
  r = run({ sender: 'sender3@clinic.test', limit: 3 });
  t.is(r.rows.length, 3);
  t.is(r.gets, 3);
  r = run({ messageId: 'no-such-message' });
  t.is(r.rows.length, 0);
  t.is(r.gets, 0);
});

test('the null sender has its own index entries', (t) => {
  const { store } = tempStore(t);
  writeSyntheticTrail(store, 50);
  store.env.transactionSync(() => {
    for (let i = 0; i < 3; i++) appendInTxn(store, { event: 'received', queueId: `D${i}`, messageId: `dsn-${i}`, sender: '', recipients: ['sender1@clinic.test'] });
  });
  const probe = instrument(store);
  const rows = queryAudit(store, { sender: '' });
  t.deepEqual(rows.map((r) => r.messageId), ['dsn-0', 'dsn-1', 'dsn-2']);
  t.is(probe.gets(), 3);
});
