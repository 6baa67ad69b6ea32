// End to end with real parts: swaks submits over STARTTLS+AUTH LOGIN, implicit TLS and the relay port; the
// gateway delivers over verified TLS (test CA) to a real SMTP server; python3-dkim verifies the signature;
// the audit shows every hop in order and its chain verifies.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestCa } from '../helpers/ca.js';
import { startSink } from '../helpers/sink.js';
import { swaks } from '../helpers/swaks.js';
import { makeGatewayDir, runCli, startTestGateway, ROOT } from '../helpers/gateway.js';
import { dkimKeyPair } from '../../src/cli/dkim.js';
import { queryAudit } from '../../src/audit/query.js';
import { verifyAudit } from '../../src/audit/verify.js';

const PASSWORD = 'correct horse battery staple';

test('submission, smtps and relay deliver over verified TLS with a DKIM signature python3-dkim accepts', async (t) => {
  const ca = makeTestCa(['localhost']);
  const sink = await startSink({ tls: { key: ca.serverKey, cert: ca.serverCert } });
  t.teardown(() => sink.close());
  const keys = { rsa: dkimKeyPair('rsa-sha256'), ed: dkimKeyPair('ed25519-sha256') };
  const d0 = makeGatewayDir();
  mkdirSync(join(d0.dir, 'dkim'));
  writeFileSync(join(d0.dir, 'dkim', 'rsa.key'), keys.rsa.privatePem);
  writeFileSync(join(d0.dir, 'dkim', 'ed.key'), keys.ed.privatePem);
  const d = makeGatewayDir({
    outbound: { routes: { 'example.net': `localhost:${sink.port}` }, tls: { '*': 'verify' }, caFile: ca.caCertFile, retry: { schedule: ['1s'], maxAge: '1h' } },
    dkim: [
      { domain: 'clinic.test', selector: 's1', key: join(d0.dir, 'dkim', 'rsa.key'), algorithm: 'rsa-sha256' },
      { domain: 'lab.test', selector: 'e1', key: join(d0.dir, 'dkim', 'ed.key'), algorithm: 'ed25519-sha256' },
    ],
  });
  const add = await runCli(['user', 'add', 'frontdesk', '--password-stdin', '--config', d.configFile], PASSWORD + '\n');
  t.is(add.code, 0, add.stderr);
  const gw = await startTestGateway(d);
  t.teardown(() => gw.stop());
  const { submission, smtps, relay } = gw.listeners.addresses;

  const common = ['--server', '127.0.0.1', '--to', 'patient@example.net', '--header', 'Subject: Appointment'];
  const r1 = await swaks([...common, '--port', String(submission!.port), '--tls', '--auth', 'LOGIN', '--auth-user', 'frontdesk', '--auth-password', PASSWORD, '--from', 'frontdesk@clinic.test', '--h-From', 'Front Desk <frontdesk@clinic.test>', '--body', 'via submission']);
  t.is(r1.code, 0, r1.out);
  t.regex(r1.out, /250 2\.0\.0 Ok: queued as [0-9A-Z]{20}/);
  const r2 = await swaks([...common, '--port', String(smtps!.port), '--tls-on-connect', '--auth', 'PLAIN', '--auth-user', 'frontdesk', '--auth-password', PASSWORD, '--from', 'frontdesk@clinic.test', '--h-From', 'frontdesk@clinic.test', '--body', 'via smtps']);
  t.is(r2.code, 0, r2.out);
  const r3 = await swaks([...common, '--port', String(relay!.port), '--from', 'ehr@lab.test', '--h-From', 'EHR <ehr@lab.test>', '--body', 'via relay']);
  t.is(r3.code, 0, r3.out);

  const got = await sink.waitFor(3);
  const dns: Record<string, string> = { 's1._domainkey.clinic.test.': keys.rsa.record, 'e1._domainkey.lab.test.': keys.ed.record };
  const dnsFile = join(d.dir, 'dns.json');
  writeFileSync(dnsFile, JSON.stringify(dns));
  for (const body of ['via submission', 'via smtps', 'via relay']) {
    const m = got.find((x) => x.bytes.toString().includes(body));
    t.truthy(m, `message "${body}" arrived`);
    t.regex(m!.tlsProtocol ?? '', /^TLSv1\.[23]$/, 'delivered over TLS');
    t.deepEqual(m!.to, ['patient@example.net']);
    const file = join(d.dir, `${body.replace(/ /g, '_')}.eml`);
    writeFileSync(file, m!.bytes);
    const out = execFileSync('/usr/bin/python3', [join(ROOT, 'test', 'helpers', 'dkim_verify.py'), file, dnsFile]).toString().trim();
    t.is(out, 'pass', `python3-dkim verifies the ${body} message`);
    t.regex(m!.bytes.toString(), /^DKIM-Signature: /, 'signature is the first header');
    t.regex(m!.bytes.toString(), /Received: from \S+ \(unknown \[127\.0\.0\.1\]\)\r\n(\t\(using TLSv1\.[23] with cipher \S+\)\r\n)?\tby gw\.phigate\.test \(phigate\) with ESMTPS?A? id [0-9A-Z]{20}/);
  }

  // the audit shows every hop of the submission message, in order
  const qid = /queued as ([0-9A-Z]{20})/.exec(r1.out)![1]!;
  const deadline = Date.now() + 5000;
  let events: string[] = [];
  while (Date.now() < deadline) {
    events = queryAudit(gw.store, { queueId: qid }).map((e) => e.event);
    if (events.includes('delivered')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.deepEqual(events, ['received', 'queued', 'scanned', 'policy', 'dkim-signed', 'delivery-attempt', 'delivered']);
  const received = queryAudit(gw.store, { queueId: qid, event: 'received' })[0]!;
  t.is(received.details['user'], 'frontdesk');
  t.is(received.details['listener'], 'submission');
  t.regex(String(received.details['sha256']), /^[0-9a-f]{64}$/);
  const delivered = queryAudit(gw.store, { queueId: qid, event: 'delivered' })[0]!;
  t.is(delivered.details['tlsVerified'], true);
  t.is(delivered.details['tlsRequired'], 'verify');
  t.is(delivered.recipient, 'patient@example.net');
  t.true(verifyAudit(gw.store).ok);
});
