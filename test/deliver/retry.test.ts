// Temporary failures end to end: a real sink answers 451 once (at RCPT, or after the DATA) and 250 after
// that; with a 1 s retry schedule the message arrives on the second attempt, once, and the audit for that
// queue id reads received, queued, delivery-attempt, deferred, delivery-attempt, delivered.
import test from 'ava';
import { startSink } from '../helpers/sink.js';
import { getEntry } from '../../src/spool/spool.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { auditUntil, gatewayWith, names, relay, sleep } from './util.js';

const EXPECTED = ['received', 'queued', 'scanned', 'policy', 'delivery-attempt', 'deferred', 'delivery-attempt', 'delivered'];

test('451 at RCPT, then 250: delivered on the retry, audit in order, no dkim-signed without keys', async (t) => {
  const sink = await startSink({ onRcpt: (_a, attempt) => (attempt === 1 ? [451, '4.3.0 Temporary lookup failure, try again'] : null) });
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${sink.port}` }, tls: { '*': 'may' }, retry: { schedule: ['1s'], maxAge: '1h' } });
  const t0 = Date.now();
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'], body: 'second time lucky' });
  const [m] = await sink.waitFor(1, 8000);
  t.true(Date.now() - t0 >= 900, 'the retry waited for the schedule');
  t.regex(m!.bytes.toString(), /second time lucky/);
  const evs = await auditUntil(gw, qid, (e) => e.some((x) => x.event === 'delivered'));
  t.deepEqual(names(evs), EXPECTED);
  const deferred = evs.find((e) => e.event === 'deferred')!;
  t.is(deferred.recipient, 'patient@example.net');
  t.is(deferred.details['reason'], 'remote-4xx');
  t.regex(String(deferred.details['reply']), /^451 4\.3\.0 /);
  t.is(deferred.details['attempts'], 1);
  const delivered = evs.find((e) => e.event === 'delivered')!;
  t.regex(String(delivered.details['reply']), /^250 /);
  t.is(sink.rcptAttempts, 2);
  t.is(getEntry(gw.store, qid), undefined, 'the entry left the queue');
  await sleep(1300);
  t.is(sink.messages.length, 1, 'delivered exactly once');
  t.true(verifyAudit(gw.store).ok);
});

test('451 after the DATA, then 250: delivered on the retry with the same bytes', async (t) => {
  const sink = await startSink({ onData: (attempt) => (attempt === 1 ? [451, '4.7.1 Greylisted, come back later'] : null) });
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${sink.port}` }, tls: { '*': 'may' }, retry: { schedule: ['1s'], maxAge: '1h' } });
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net', 'nurse@example.net'], body: 'greylisted once' });
  const [m] = await sink.waitFor(1, 8000);
  t.deepEqual([...m!.to].sort(), ['nurse@example.net', 'patient@example.net'], 'one transaction for both recipients of the domain');
  const evs = await auditUntil(gw, qid, (e) => e.filter((x) => x.event === 'delivered').length === 2);
  t.deepEqual(names(evs), ['received', 'queued', 'scanned', 'policy', 'policy', 'delivery-attempt', 'deferred', 'deferred', 'delivery-attempt', 'delivered', 'delivered']);
  for (const d of evs.filter((e) => e.event === 'deferred')) {
    t.is(d.details['reason'], 'remote-4xx');
    t.regex(String(d.details['reply']), /451 4\.7\.1/);
  }
  t.is(getEntry(gw.store, qid), undefined);
});
