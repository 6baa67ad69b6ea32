// Outbound TLS levels end to end: swaks into the relay port, a real smtp-server sink as the next hop, certs
// made by openssl. `verify` never sends to a hop without STARTTLS, with an untrusted certificate or with a
// certificate for another name (the recipient is deferred and the audit says why); `encrypt` accepts a
// self-signed certificate but still encrypts; `may` falls back to clear text; `none` never starts TLS.
import test from 'ava';
import { makeSelfSigned, makeTestCa } from '../helpers/ca.js';
import { startSink } from '../helpers/sink.js';
import { getEntry } from '../../src/spool/spool.js';
import { auditUntil, gatewayWith, loopbackResolver, names, relay, sleep, startBrokenTlsServer } from './util.js';
import type { AuditRecord } from '../../src/audit/record.js';
import type { Gateway } from '../../src/gateway.js';

// made once per file with openssl: a self-signed pair no one trusts, and a test CA with a localhost certificate
const ss = makeSelfSigned('localhost');
const ca = makeTestCa(['localhost']);

const hasDeferred = (evs: AuditRecord[]) => evs.some((e) => e.event === 'deferred');
const hasDelivered = (evs: AuditRecord[]) => evs.some((e) => e.event === 'delivered');

/** Asserts the recipient is deferred for `reason` after one attempt, with nothing sent to the sink. */
async function assertDeferred(t: import('ava').ExecutionContext, gw: Gateway, qid: string, rcpt: string, reason: string): Promise<void> {
  const evs = await auditUntil(gw, qid, hasDeferred);
  t.deepEqual(names(evs), ['received', 'queued', 'scanned', 'policy', 'delivery-attempt', 'deferred']);
  const attempt = evs.find((e) => e.event === 'delivery-attempt')!;
  t.deepEqual(attempt.recipients, [rcpt]);
  t.is(attempt.details['tlsRequired'], 'verify');
  const deferred = evs.find((e) => e.event === 'deferred')!;
  t.is(deferred.recipient, rcpt);
  t.is(deferred.details['reason'], reason, JSON.stringify(deferred.details));
  t.is(deferred.details['tlsRequired'], 'verify');
  const entry = getEntry(gw.store, qid);
  t.truthy(entry, 'the message stays queued');
  const st = entry!.status.find((s) => s.address === rcpt)!;
  t.is(st.state, 'deferred');
  t.is(st.lastError, reason);
  t.true(st.nextAttemptAt > Date.now() + 60_000, 'next attempt follows the retry schedule (10m)');
}

test('verify: a next hop without STARTTLS gets nothing; deferred as tls-unavailable', async (t) => {
  const sink = await startSink();
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${sink.port}` }, tls: { '*': 'verify' } });
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'], body: 'PHI must not leave in clear' });
  await assertDeferred(t, gw, qid, 'patient@example.net', 'tls-unavailable');
  await sleep(300);
  t.is(sink.messages.length, 0, 'nothing delivered');
  t.is(sink.rcptAttempts, 0, 'no envelope was even sent over the clear connection');
});

test('verify: a self-signed certificate is not trusted; deferred as tls-verify-failed', async (t) => {
  const sink = await startSink({ tls: ss });
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${sink.port}` }, tls: { '*': 'verify' } });
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'] });
  await assertDeferred(t, gw, qid, 'patient@example.net', 'tls-verify-failed');
  t.is(sink.messages.length, 0);
  t.is(sink.rcptAttempts, 0);
});

test('verify: a trusted certificate for another host name is refused; the same CA with the right name delivers', async (t) => {
  const sink = await startSink({ tls: { key: ca.serverKey, cert: ca.serverCert } });
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, {
    // both routes reach the same sink; only the name the gateway checks the certificate against differs
    routes: { 'good.example': `localhost:${sink.port}`, 'example.net': `mail.example.net:${sink.port}` },
    tls: { '*': 'verify' },
    caFile: ca.caCertFile,
  }, loopbackResolver());
  const bad = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'], body: 'wrong name' });
  await assertDeferred(t, gw, bad, 'patient@example.net', 'tls-verify-failed');
  const good = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@good.example'], body: 'right name' });
  const evs = await auditUntil(gw, good, hasDelivered);
  const delivered = evs.find((e) => e.event === 'delivered');
  t.truthy(delivered, 'control: the CA is trusted and the name localhost matches');
  t.is(delivered?.details['tlsVerified'], true);
  await sleep(200);
  t.is(sink.messages.length, 1);
  t.deepEqual(sink.messages[0]!.to, ['patient@good.example']);
  t.regex(sink.messages[0]!.bytes.toString(), /right name/);
});

test('encrypt: a self-signed certificate is accepted, the message travels over TLS, tlsVerified is false', async (t) => {
  const sink = await startSink({ tls: ss });
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${sink.port}` }, tls: { '*': 'verify', 'example.net': 'encrypt' } });
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'], body: 'encrypted but unverified' });
  const [m] = await sink.waitFor(1, 10_000);
  t.regex(m!.tlsProtocol ?? '', /^TLSv1\.[23]$/, 'the sink saw a TLS session');
  t.regex(m!.bytes.toString(), /encrypted but unverified/);
  const evs = await auditUntil(gw, qid, hasDelivered);
  t.deepEqual(names(evs), ['received', 'queued', 'scanned', 'policy', 'delivery-attempt', 'delivered']);
  const d = evs.find((e) => e.event === 'delivered')!;
  t.is(d.details['tlsVerified'], false);
  t.is(d.details['tlsRequired'], 'encrypt');
  t.regex(String(d.details['tlsProtocol']), /^TLSv1\.[23]$/);
  t.is(getEntry(gw.store, qid), undefined, 'finished entries leave the queue');
});

test('encrypt: a next hop without STARTTLS is still refused (tls-unavailable)', async (t) => {
  const sink = await startSink();
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${sink.port}` }, tls: { '*': 'encrypt' } });
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'] });
  const evs = await auditUntil(gw, qid, hasDeferred);
  const deferred = evs.find((e) => e.event === 'deferred');
  t.is(deferred?.details['reason'], 'tls-unavailable');
  t.is(deferred?.details['tlsRequired'], 'encrypt');
  t.is(sink.rcptAttempts, 0);
});

test('may: a next hop without STARTTLS receives the message in clear', async (t) => {
  const sink = await startSink();
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${sink.port}` }, tls: { '*': 'verify', '*.net': 'may' } });
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'], body: 'opportunistic' });
  const [m] = await sink.waitFor(1, 10_000);
  t.is(m!.tlsProtocol, null, 'no TLS on the sink side');
  t.deepEqual(m!.to, ['patient@example.net']);
  const evs = await auditUntil(gw, qid, hasDelivered);
  const d = evs.find((e) => e.event === 'delivered')!;
  t.is(d.details['tlsRequired'], 'may');
  t.is(d.details['tlsProtocol'], null);
  t.is(d.details['tlsVerified'], false);
});

test('may: STARTTLS is used when offered, even with an untrusted certificate', async (t) => {
  const sink = await startSink({ tls: ss });
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${sink.port}` }, tls: { '*': 'may' } });
  await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'] });
  const [m] = await sink.waitFor(1, 10_000);
  t.regex(m!.tlsProtocol ?? '', /^TLSv1\.[23]$/);
});

test('none: no TLS is used even when the next hop offers STARTTLS with a trusted certificate', async (t) => {
  const sink = await startSink({ tls: { key: ca.serverKey, cert: ca.serverCert } });
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${sink.port}` }, tls: { '*': 'verify', 'example.net': 'none' }, caFile: ca.caCertFile });
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'], body: 'clear by choice' });
  const [m] = await sink.waitFor(1, 10_000);
  t.is(m!.tlsProtocol, null, 'the session stayed in clear text');
  const evs = await auditUntil(gw, qid, hasDelivered);
  const d = evs.find((e) => e.event === 'delivered')!;
  t.is(d.details['tlsRequired'], 'none');
  t.is(d.details['tlsProtocol'], null);
});

test('may: a STARTTLS handshake that fails is retried in clear text on a new connection', async (t) => {
  const srv = await startBrokenTlsServer();
  t.teardown(() => srv.close());
  const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${srv.port}` }, tls: { '*': 'may' } });
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'], body: 'may falls back' });
  const evs = await auditUntil(gw, qid, (e) => hasDelivered(e) || hasDeferred(e));
  t.deepEqual(names(evs), ['received', 'queued', 'scanned', 'policy', 'delivery-attempt', 'delivered'], JSON.stringify(evs.at(-1)?.details));
  t.is(srv.starttlsSeen, 1, 'TLS was tried first');
  t.is(srv.messages.length, 1);
  t.regex(srv.messages[0]!.data, /may falls back/);
  t.is(evs.find((e) => e.event === 'delivered')!.details['tlsProtocol'], null);
});

for (const level of ['encrypt', 'verify'] as const) {
  test(`${level}: a STARTTLS handshake that fails is never retried in clear text`, async (t) => {
    const srv = await startBrokenTlsServer();
    t.teardown(() => srv.close());
    const gw = await gatewayWith(t, { routes: { 'example.net': `localhost:${srv.port}` }, tls: { '*': level } });
    const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'] });
    const evs = await auditUntil(gw, qid, hasDeferred);
    const deferred = evs.find((e) => e.event === 'deferred');
    t.regex(String(deferred?.details['reason']), /^tls-/, JSON.stringify(deferred?.details));
    await sleep(300);
    t.is(srv.starttlsSeen, 1);
    t.is(srv.messages.length, 0, 'no clear-text retry');
  });
}
