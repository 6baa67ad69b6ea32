// Permanent failures end to end: the sink answers 550 5.1.1 for one recipient and takes the other in the same
// transaction. The accepted one is delivered, the other bounced at once (one attempt, no retry), and the
// sender gets an RFC 3464 DSN from <> through the same sink (both domains route there, over verified TLS).
import test from 'ava';
import { makeTestCa } from '../helpers/ca.js';
import { startSink } from '../helpers/sink.js';
import { getEntry } from '../../src/spool/spool.js';
import { queryAudit } from '../../src/audit/query.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { auditUntil, gatewayWith, names, relay, sleep, splitMultipart } from './util.js';

const ca = makeTestCa(['localhost']);
const BODY = 'Potassium 5.9 mmol/L, please call the clinic';

test('550 5.1.1 for one recipient: the other is delivered, the sender gets a DSN with headers only', async (t) => {
  const sink = await startSink({
    tls: { key: ca.serverKey, cert: ca.serverCert },
    onRcpt: (a) => (a === 'nobody@example.net' ? [550, '5.1.1 <nobody@example.net>: Recipient address rejected: User unknown'] : null),
  });
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, {
    routes: { 'example.net': `localhost:${sink.port}`, 'lab.test': `localhost:${sink.port}` },
    tls: { '*': 'verify' },
    caFile: ca.caCertFile,
    retry: { schedule: ['1s'], maxAge: '1h' },
  });
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net', 'nobody@example.net'], subject: 'Lab results 4711', body: BODY });

  const got = await sink.waitFor(2, 10_000);
  const original = got.find((m) => m.from === 'ehr@lab.test');
  const dsnMsg = got.find((m) => m.from === '');
  t.truthy(original, 'the original arrived');
  t.deepEqual(original!.to, ['patient@example.net'], 'only the accepted recipient');
  t.truthy(dsnMsg, 'a DSN arrived with the null envelope sender <>');
  t.deepEqual(dsnMsg!.to, ['ehr@lab.test']);
  t.regex(dsnMsg!.tlsProtocol ?? '', /^TLSv1\.[23]$/, 'the DSN left under the same TLS rules');

  const raw = dsnMsg!.bytes.toString('utf8');
  t.false(raw.includes(BODY), 'the DSN never carries the original body');
  t.false(raw.includes('Potassium'), 'not even a part of it');
  t.regex(raw, /^From: Mail Delivery System <MAILER-DAEMON@gw\.phigate\.test>\r$/m);
  t.regex(raw, /^To: <ehr@lab\.test>\r$/m);
  t.regex(raw, /^Auto-Submitted: auto-replied\r$/m);
  const mime = splitMultipart(raw);
  t.regex(mime.contentType, /^multipart\/report; report-type=delivery-status; boundary=/);
  t.deepEqual(mime.parts.map((p) => p.contentType), ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
  const [human, status, headers] = mime.parts;
  t.regex(human!.body, /<nobody@example\.net>: 550 5\.1\.1/);
  t.regex(human!.body, new RegExp(`Queue ID: ${qid}`));
  const ds = status!.body;
  t.regex(ds, /^Reporting-MTA: dns; gw\.phigate\.test\r$/m);
  t.regex(ds, /^Arrival-Date: .+\r$/m);
  t.regex(ds, /^Final-Recipient: rfc822; nobody@example\.net\r$/m);
  t.regex(ds, /^Action: failed\r$/m);
  t.regex(ds, /^Status: 5\.1\.1\r$/m);
  t.regex(ds, /^Remote-MTA: dns; localhost\r$/m);
  t.regex(ds, /^Diagnostic-Code: smtp; 550 5\.1\.1 <nobody@example\.net>: Recipient address rejected: User unknown\r$/m);
  t.false(ds.includes('patient@example.net'), 'the delivered recipient is not reported as failed');
  // per-message fields, a blank line, then one block per recipient (RFC 3464 2.1)
  t.regex(ds, /Arrival-Date: [^\r]+\r\n\r\nFinal-Recipient:/);
  t.regex(headers!.body, /^Subject: Lab results 4711\r$/m);
  t.regex(headers!.body, /^From: <ehr@lab\.test>\r$/m);
  t.regex(headers!.body, /^Received: from /m, 'the header block is the one the gateway received');
  t.false(headers!.body.includes('\r\n\r\n'), 'headers only: no blank line and nothing after it');

  // the audit of the original: one attempt, delivered + bounced, then dsn-sent; the entry is finished
  const evs = await auditUntil(gw, qid, (e) => e.some((x) => x.event === 'dsn-sent'));
  t.deepEqual(names(evs), ['received', 'queued', 'scanned', 'policy', 'policy', 'delivery-attempt', 'delivered', 'bounced', 'dsn-sent']);
  const bounced = evs.find((e) => e.event === 'bounced')!;
  t.is(bounced.recipient, 'nobody@example.net');
  t.is(bounced.details['reason'], 'remote-5xx');
  t.is(bounced.details['status'], '5.1.1');
  t.is(evs.find((e) => e.event === 'delivered')!.recipient, 'patient@example.net');
  const dsnSent = evs.find((e) => e.event === 'dsn-sent')!;
  t.deepEqual(dsnSent.recipients, ['nobody@example.net']);
  t.is(dsnSent.details['to'], 'ehr@lab.test');
  t.is(getEntry(gw.store, qid), undefined, 'nothing left to retry');

  // the DSN has its own queue id and trail, from the null sender, delivered over verified TLS
  const dsnQid = String(dsnSent.details['dsnQueueId']);
  const dsnEvs = await auditUntil(gw, dsnQid, (e) => e.some((x) => x.event === 'delivered'));
  t.deepEqual(names(dsnEvs), ['received', 'queued', 'delivery-attempt', 'delivered']);
  t.is(dsnEvs[0]!.sender, '');
  t.is(dsnEvs[0]!.details['listener'], 'internal');
  t.is(dsnEvs[0]!.details['kind'], 'dsn');
  t.is(dsnEvs.at(-1)!.details['tlsVerified'], true);
  t.regex(raw, new RegExp(`^Message-ID: <${String(dsnSent.details['dsnMessageId']).replace(/\./g, '\\.')}>\r$`, 'm'));

  await sleep(1300);
  t.is(sink.rcptAttempts, 3, 'two RCPTs for the original, one for the DSN: the 5xx was not retried');
  t.is(queryAudit(gw.store, { queueId: qid, event: 'delivery-attempt' }).length, 1);
  t.true(verifyAudit(gw.store).ok);
});

test('a bounced DSN produces no DSN of its own (no loops)', async (t) => {
  // everything to lab.test is refused: the original's recipient bounces, then the DSN to the sender bounces
  const sink = await startSink({ onRcpt: () => [550, '5.1.1 User unknown'] });
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, {
    routes: { 'example.net': `localhost:${sink.port}`, 'lab.test': `localhost:${sink.port}` },
    tls: { '*': 'may' },
  });
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['gone@example.net'] });
  const evs = await auditUntil(gw, qid, (e) => e.some((x) => x.event === 'dsn-sent'));
  const dsnQid = String(evs.find((e) => e.event === 'dsn-sent')?.details['dsnQueueId']);
  const dsnEvs = await auditUntil(gw, dsnQid, (e) => e.some((x) => x.event === 'bounced'));
  await sleep(300);
  t.deepEqual(names(queryAudit(gw.store, { queueId: dsnQid })), ['received', 'queued', 'delivery-attempt', 'bounced']);
  t.is(dsnEvs.find((e) => e.event === 'bounced')?.recipient, 'ehr@lab.test');
  t.is(queryAudit(gw.store, { event: 'dsn-sent' }).length, 1, 'exactly one DSN in the whole audit');
  t.is(sink.messages.length, 0);
});
