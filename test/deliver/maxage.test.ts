// Queue lifetime end to end: a next hop that always answers 451 for the recipient, a 1 s retry schedule and
// a 3 s maxAge. The recipient is retried until the message is 3 s old, then bounced with reason max-age, and
// the sender gets a DSN with Status 5.4.7 (through the same sink, which takes mail for the sender's domain).
import test from 'ava';
import { startSink } from '../helpers/sink.js';
import { getEntry } from '../../src/spool/spool.js';
import { auditUntil, gatewayWith, names, relay, splitMultipart } from './util.js';

test('always 451 with maxAge 3s: bounced as max-age after several attempts, DSN Status 5.4.7', async (t) => {
  const sink = await startSink({ onRcpt: (a) => (a === 'patient@example.net' ? [451, '4.2.0 Mailbox busy, try later'] : null) });
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, {
    routes: { 'example.net': `localhost:${sink.port}`, 'lab.test': `localhost:${sink.port}` },
    tls: { '*': 'may' },
    retry: { schedule: ['1s'], maxAge: '3s' },
  });
  const t0 = Date.now();
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'], body: 'never arrives' });
  const [dsn] = await sink.waitFor(1, 10_000);
  const elapsed = Date.now() - t0;
  t.true(elapsed >= 2900, `gave up only when the message was 3 s old (${elapsed} ms)`);
  t.true(elapsed < 8000, `and not much later (${elapsed} ms)`);
  t.is(dsn!.from, '');
  t.deepEqual(dsn!.to, ['ehr@lab.test']);

  const evs = await auditUntil(gw, qid, (e) => e.some((x) => x.event === 'dsn-sent'));
  const seq = names(evs);
  t.deepEqual(seq.slice(0, 2), ['received', 'queued']);
  t.deepEqual(seq.slice(-3), ['delivery-attempt', 'bounced', 'dsn-sent']);
  const attempts = seq.filter((e) => e === 'delivery-attempt').length;
  t.true(attempts >= 2 && attempts <= 5, `retried on the 1 s schedule (${attempts} attempts)`);
  t.is(seq.filter((e) => e === 'deferred').length, attempts - 1, 'every attempt but the last deferred');
  for (const d of evs.filter((e) => e.event === 'deferred')) t.is(d.details['reason'], 'remote-4xx');
  const bounced = evs.find((e) => e.event === 'bounced')!;
  t.is(bounced.recipient, 'patient@example.net');
  t.is(bounced.details['reason'], 'max-age');
  t.is(bounced.details['status'], '5.4.7');
  t.regex(String(bounced.details['reply']), /last error: 451 4\.2\.0 Mailbox busy/);
  t.is(getEntry(gw.store, qid), undefined, 'the entry left the queue');

  const mime = splitMultipart(dsn!.bytes.toString('utf8'));
  t.regex(mime.contentType, /^multipart\/report; report-type=delivery-status;/);
  const ds = mime.parts.find((p) => p.contentType === 'message/delivery-status')!.body;
  t.regex(ds, /^Final-Recipient: rfc822; patient@example\.net\r$/m);
  t.regex(ds, /^Action: failed\r$/m);
  t.regex(ds, /^Status: 5\.4\.7\r$/m);
  t.false(dsn!.bytes.toString().includes('never arrives'));
  t.is(sink.messages.length, 1, 'only the DSN, never the original');
});
