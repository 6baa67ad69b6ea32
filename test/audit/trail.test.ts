// The audit trail of real traffic: a gateway delivers a message to a real SMTP server; its events come in order,
// carry no content, and `phigate audit verify` catches tampering with the stored trail, naming the record.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { startSink, type Sink } from '../helpers/sink.js';
import { makeGatewayDir, runCli, startTestGateway, type GatewayDir } from '../helpers/gateway.js';
import { RawSmtp, testMessage } from '../helpers/smtp-raw.js';
import type { Gateway } from '../../src/gateway.js';
import { openStore, type Store } from '../../src/store.js';
import { queryAudit } from '../../src/audit/query.js';
import { verifyAudit } from '../../src/audit/verify.js';
import { hashRecord, type AuditRecord } from '../../src/audit/record.js';

async function gatewayWithSink(t: ExecutionContext): Promise<{ sink: Sink; d: GatewayDir; gw: Gateway; relay: number }> {
  const sink = await startSink();
  t.teardown(() => sink.close());
  const d = makeGatewayDir({
    listen: { relay: { host: '127.0.0.1', port: 0, trustedNetworks: ['127.0.0.0/8'] } },
    outbound: { routes: { '*': `127.0.0.1:${sink.port}` }, tls: { '*': 'none' }, caFile: null, retry: { schedule: ['1s'], maxAge: '1h' } },
  });
  const gw = await startTestGateway(d);
  t.teardown(() => gw.stop());
  return { sink, d, gw, relay: gw.listeners.addresses['relay']!.port };
}

async function sendOne(relay: number, messageId: string, body: string, subject = 'test'): Promise<string> {
  const c = await RawSmtp.connect(relay);
  try {
    await c.ehlo();
    const r = await c.send('ehr@clinic.test', ['patient@example.net'], testMessage({ from: 'ehr@clinic.test', to: 'patient@example.net', messageId, subject, body }));
    if (r.code !== 250) throw new Error(`not accepted: ${r.code} ${r.text}`);
    return /queued as ([0-9A-Z]{20})/.exec(r.text)![1]!;
  } finally {
    await c.quit();
  }
}

async function eventsUntilDelivered(store: Store, messageId: string): Promise<AuditRecord[]> {
  const end = Date.now() + 10_000;
  for (;;) {
    const recs = queryAudit(store, { messageId });
    if (recs.some((r) => r.event === 'delivered') || Date.now() > end) return recs;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a delivered message leaves received, queued, scanned, policy, delivery-attempt, delivered in order, and the chain verifies', async (t) => {
  const { sink, gw, relay } = await gatewayWithSink(t);
  const qid = await sendOne(relay, 'order-1@clinic.test', 'hello');
  await sink.waitFor(1);
  const recs = await eventsUntilDelivered(gw.store, 'order-1@clinic.test');
  t.deepEqual(recs.map((r) => r.event), ['received', 'queued', 'scanned', 'policy', 'delivery-attempt', 'delivered']);
  t.true(recs.every((r) => r.queueId === qid && r.sender === 'ehr@clinic.test'));
  t.deepEqual(recs.map((r) => r.seq), [...recs.map((r) => r.seq)].sort((a, b) => a - b));
  t.is(recs[5]!.recipient, 'patient@example.net');
  t.is(recs[5]!.details['port'], sink.port);
  t.deepEqual(queryAudit(gw.store, { queueId: qid }).map((r) => r.seq), recs.map((r) => r.seq));
  t.deepEqual(queryAudit(gw.store, { recipient: 'patient@example.net' }).map((r) => r.seq), recs.map((r) => r.seq));
  t.true(verifyAudit(gw.store).ok);
});

test('audit records never contain the message body or subject', async (t) => {
  const { sink, gw, relay } = await gatewayWithSink(t);
  const bodyToken = `BODYTOKEN${Math.random().toString(36).slice(2)}`;
  const subjectToken = `SUBJTOKEN${Math.random().toString(36).slice(2)}`;
  await sendOne(relay, 'phi-1@clinic.test', `Patient DOB 1970-01-01, diagnosis ${bodyToken}`, `Results ${subjectToken}`);
  const got = await sink.waitFor(1);
  t.true(got[0]!.bytes.toString().includes(bodyToken), 'the token really travelled in the body');
  t.true(got[0]!.bytes.toString().includes(subjectToken));
  const recs = await eventsUntilDelivered(gw.store, 'phi-1@clinic.test');
  t.true(recs.some((r) => r.event === 'delivered'));
  let records = 0;
  for (const { value } of gw.store.audit.getRange({ start: 0 })) {
    records++;
    const json = JSON.stringify(value);
    t.false(json.includes(bodyToken), `record ${(value as AuditRecord).seq} holds body text`);
    t.false(json.includes(subjectToken), `record ${(value as AuditRecord).seq} holds the subject`);
  }
  t.true(records >= 5);
  for (const key of gw.store.auditIndex.getKeys({})) {
    t.false(JSON.stringify(key).includes(bodyToken) || JSON.stringify(key).includes(subjectToken), 'index keys hold no content');
  }
});

test('phigate audit verify names the altered, re-linked or removed record', async (t) => {
  const { sink, d, gw, relay } = await gatewayWithSink(t);
  await sendOne(relay, 'tamper-1@clinic.test', 'hello');
  await sink.waitFor(1);
  await eventsUntilDelivered(gw.store, 'tamper-1@clinic.test');
  await gw.stop();
  const verify = () => runCli(['audit', 'verify', '--config', d.configFile]);
  const ok = await verify();
  t.is(ok.code, 0, ok.stderr);
  const total = Number(/audit chain ok: (\d+) records/.exec(ok.stdout)?.[1]);
  t.true(total >= 6, ok.stdout);

  const withStore = async (fn: (s: Store) => void) => {
    const s = openStore(d.config['dataDir']);
    try { s.env.transactionSync(() => fn(s)); } finally { await s.close(); }
  };
  const original = new Map<number, AuditRecord>();
  await withStore((s) => { for (const { key, value } of s.audit.getRange({ start: 0 })) original.set(key, value as AuditRecord); });
  const restore = () => withStore((s) => { for (const [k, v] of original) s.audit.put(k, v); });

  // 1. change record 3's details, keep its stored hash
  await withStore((s) => {
    const r = s.audit.get(3) as AuditRecord;
    s.audit.put(3, { ...r, details: { ...r.details, recipients: 7 } });
  });
  let bad = await verify();
  t.not(bad.code, 0);
  t.regex(bad.stderr, /audit chain broken at record 3\b/);
  t.regex(bad.stderr, /altered/);
  await restore();
  t.is((await verify()).code, 0, 'restored trail verifies again');

  // 2. remove the last record: the stored head no longer matches
  await withStore((s) => { s.audit.remove(total); });
  bad = await verify();
  t.not(bad.code, 0);
  t.regex(bad.stderr, new RegExp(`record ${total}\\b`));
  t.regex(bad.stderr, /head/);
  await restore();
  t.is((await verify()).code, 0);

  // 3. change record 3 and recompute its own hash: the next record's link breaks
  await withStore((s) => {
    const r = s.audit.get(3) as AuditRecord;
    const forged = { ...r, details: { ...r.details, recipients: 7 } };
    forged.hash = hashRecord(forged);
    s.audit.put(3, forged);
  });
  bad = await verify();
  t.not(bad.code, 0);
  t.regex(bad.stderr, /audit chain broken at record 4\b/);
  t.regex(bad.stderr, /prev/);
});
