// End to end through the policy stage with real SMTP: one message split three ways (verified TLS, held for lack of
// a protected method, rejected with a DSN), the all-rejected 550 5.7.1 as swaks sees it, rule edits (strip, tag)
// and notify notices at the receiving server, and the policy decisions in the audit.
import test, { type ExecutionContext } from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeGatewayDir, startTestGateway } from '../helpers/gateway.js';
import { startSink, type Sink, type SunkMessage } from '../helpers/sink.js';
import { makeTestCa } from '../helpers/ca.js';
import { swaks } from '../helpers/swaks.js';
import { auditUntil, names, splitMultipart } from '../deliver/util.js';
import { queryAudit } from '../../src/audit/query.js';
import type { Gateway } from '../../src/gateway.js';

const ca = makeTestCa(['localhost']);

const PHI_BODY = 'Dear Maria,\r\nyour lab results for MRN 00482193 are ready. Diagnosis: type 2 diabetes mellitus. SSN on file 412-56-7321.\r\n';

const POLICY = `
rules:
  - id: no-ssn-to-personal
    description: SSNs never go to personal mailboxes
    when:
      findings: { any: [ssn] }
      recipient: { in: consumer.txt }
    then:
      reject: "Social Security numbers may not be sent to personal email addresses"
      notify: { to: [privacy@clinic.test], text: "Check the sender's training record." }
  - id: secure-tag
    description: "[secure] in the subject: strip it and send protected"
    when:
      subject: { startsWith: "[secure]" }
    then:
      strip: "[secure]"
      deliver: verify
      tag: { header: { X-Phigate-Rule: secure-tag } }
  - id: phi-protected
    when: { phi: true }
    then:
      encrypt: [tls, pgp, smime, portal]
  - id: no-phi
    then:
      deliver: may
      tag: { subject: "[EXTERNAL]" }
`;

interface Setup { gw: Gateway; verified: Sink; plain: Sink; home: Sink; relayPort: number }

/** A gateway with the policy above: verified.test has a trusted certificate, plain.test no STARTTLS, clinic.test
 *  (the sender's own domain, where DSNs and notices go) a plain server. */
async function setup(t: ExecutionContext): Promise<Setup> {
  const verified = await startSink({ tls: { key: ca.serverKey, cert: ca.serverCert } });
  const plain = await startSink();
  const home = await startSink();
  t.teardown(async () => { await verified.close(); await plain.close(); await home.close(); });
  const d = makeGatewayDir({
    outbound: {
      routes: { 'verified.test': `localhost:${verified.port}`, 'plain.test': `localhost:${plain.port}`, 'gmail.com': `localhost:${plain.port}`, 'clinic.test': `localhost:${home.port}` },
      tls: { '*': 'may' }, caFile: ca.caCertFile, retry: { schedule: ['10m'], maxAge: '1h' }, connectTimeout: '5s',
    },
  });
  mkdirSync(join(d.dir, 'policies'));
  writeFileSync(join(d.dir, 'policies', '10-test.yaml'), POLICY);
  writeFileSync(join(d.dir, 'policies', 'consumer.txt'), '# personal mail\ngmail.com\n');
  const gw = await startTestGateway(d, undefined, 200);
  t.teardown(() => gw.stop());
  return { gw, verified, plain, home, relayPort: gw.listeners.addresses['relay']!.port };
}

function send(port: number, o: { from: string; to: string[]; subject: string; body: string }) {
  return swaks(['--server', '127.0.0.1', '--port', String(port), '--from', o.from, '--to', o.to.join(','),
    '--h-From', `<${o.from}>`, '--header', `Subject: ${o.subject}`, '--body', o.body]);
}

const queueIdOf = (out: string) => /250 2\.0\.0 Ok: queued as ([0-9A-Z]{20})/.exec(out)?.[1];
const text = (m: SunkMessage) => m.bytes.toString('utf8');

test('one message, three routes: verified TLS, held (no protected method) with a notice, rejected with a DSN', async (t) => {
  const { gw, verified, plain, home, relayPort } = await setup(t);
  const r = await send(relayPort, { from: 'ehr@clinic.test', to: ['doc@verified.test', 'pat@plain.test', 'pat@gmail.com'], subject: 'Results', body: PHI_BODY });
  t.is(r.code, 0, r.out);
  const qid = queueIdOf(r.out)!;
  t.truthy(qid, r.out);

  // verified TLS: delivered with a verified certificate
  const [m] = await verified.waitFor(1, 10_000);
  t.deepEqual(m!.to, ['doc@verified.test']);
  t.regex(m!.tlsProtocol ?? '', /^TLSv1\.[23]$/);

  // the server without STARTTLS gets nothing: the recipient is held and the sender is told, never sent in clear
  // the rule's notify goes to the privacy officer; the DSN and the hold notice go to the sender
  const homeMsgs = await home.waitFor(3, 10_000);
  t.is(plain.messages.length, 0, 'nothing in clear text to plain.test or gmail.com');
  const dsn = homeMsgs.find((x) => /multipart\/report/.test(text(x)))!;
  const held = homeMsgs.find((x) => /held and has not been delivered/.test(text(x)))!;
  const notice = homeMsgs.find((x) => x.to.includes('privacy@clinic.test'))!;
  t.truthy(dsn && held && notice, homeMsgs.map(text).join('\n----\n'));
  t.deepEqual(dsn.to, ['ehr@clinic.test']);
  t.is(dsn.from, '', 'DSNs have a null sender');
  const report = splitMultipart(text(dsn)).parts.find((p) => p.contentType.startsWith('message/delivery-status'))!;
  t.regex(report.body, /Final-Recipient: rfc822; pat@gmail\.com/);
  t.regex(report.body, /Status: 5\.7\.1/);
  t.regex(report.body, /Social Security numbers may not be sent to personal email addresses/);
  t.false(report.body.includes('doc@verified.test'));
  t.deepEqual(held.to, ['ehr@clinic.test']);
  t.regex(text(held), /<pat@plain\.test>: no protected way to send \(rule phi-protected\): verified TLS failed \(tls-unavailable\)/);
  t.regex(text(notice), /<pat@gmail\.com>: refused: Social Security numbers/);
  t.regex(text(notice), /Check the sender's training record\./);
  for (const n of [held, notice]) {
    t.false(text(n).includes('412-56-7321'), 'notices carry no PHI');
    t.false(text(n).includes('diabetes'), 'notices carry no content');
  }

  // the audit: one policy event per recipient with rule, action, version and the matched finding types
  const evs = await auditUntil(gw, qid, (e) => e.some((x) => x.event === 'held') && e.some((x) => x.event === 'dsn-sent') && e.some((x) => x.event === 'delivered'));
  const policy = evs.filter((e) => e.event === 'policy');
  t.deepEqual(policy.map((p) => [p.recipient, p.details['rule'], p.details['action']]), [
    ['doc@verified.test', 'phi-protected', 'encrypt'], ['pat@plain.test', 'phi-protected', 'encrypt'], ['pat@gmail.com', 'no-ssn-to-personal', 'reject'],
  ]);
  t.true(policy.every((p) => p.details['policyVersion'] === gw.policy().version));
  t.deepEqual(policy[2]!.details['findingTypes'], ['ssn']);
  t.true((policy[0]!.details['findingTypes'] as string[]).includes('mrn'));
  t.true(names(evs).includes('route-fallback'));
  t.is(evs.find((e) => e.event === 'bounced')!.details['rule'], 'no-ssn-to-personal');
  t.false(JSON.stringify(evs).includes('412-56-7321'), 'no PHI value in the audit');
  // the queue keeps the held recipient only
  const entry = gw.store.queue.get(qid) as { status: { address: string; state: string }[] };
  t.deepEqual(entry.status.map((s) => [s.address, s.state]), [['doc@verified.test', 'delivered'], ['pat@plain.test', 'held'], ['pat@gmail.com', 'bounced']]);
});

test('policy rejecting every recipient: swaks sees 550 5.7.1 with the rule\'s reason; nothing is queued; the refusal is audited', async (t) => {
  const { gw, plain, home, relayPort } = await setup(t);
  const r = await send(relayPort, { from: 'ehr@clinic.test', to: ['a@gmail.com', 'b@gmail.com'], subject: 'Forms', body: PHI_BODY });
  t.not(r.code, 0);
  t.regex(r.out, /<\*\* +550 5\.7\.1 Message refused by policy: Social Security numbers may not be sent to personal email addresses/);
  const queued = [...gw.store.queue.getRange({})].map((e) => (e.value as { kind: string }).kind);
  t.false(queued.includes('message'), 'the refused message is not in the queue');
  // the rule's notify still reaches the privacy officer; no DSN (the client was told at once)
  const [n] = await home.waitFor(1, 10_000);
  t.deepEqual(n!.to, ['privacy@clinic.test']);
  await new Promise((res) => setTimeout(res, 500));
  t.is(home.messages.length, 1);
  t.is(plain.messages.length, 0);
  const rejected = queryAudit(gw.store, { event: 'rejected' });
  t.is(rejected.length, 1);
  t.deepEqual(rejected[0]!.details['rules'], ['no-ssn-to-personal']);
  t.is(rejected[0]!.details['reply'], '550 5.7.1');
  t.is(queryAudit(gw.store, { event: 'policy' }).length, 2);
});

test('rule edits reach the recipient: [secure] stripped and a header added; no-PHI mail tagged [EXTERNAL]; the body is unchanged', async (t) => {
  const { verified, plain, relayPort } = await setup(t);
  const r1 = await send(relayPort, { from: 'ehr@clinic.test', to: ['doc@verified.test'], subject: '[secure] Referral for Ms. Chen', body: 'See attached notes.' });
  t.is(r1.code, 0, r1.out);
  const [m] = await verified.waitFor(1, 10_000);
  t.regex(text(m!), /^Subject: Referral for Ms\. Chen\r$/m);
  t.regex(text(m!), /^X-Phigate-Rule: secure-tag\r$/m);
  t.regex(text(m!), /\r\n\r\nSee attached notes\./);
  const r2 = await send(relayPort, { from: 'ehr@clinic.test', to: ['friend@plain.test'], subject: 'Lunch on Friday', body: 'The staff meeting moved to Tuesday.' });
  t.is(r2.code, 0, r2.out);
  const [p] = await plain.waitFor(1, 10_000);
  t.regex(text(p!), /^Subject: \[EXTERNAL\] Lunch on Friday\r$/m);
  t.is(p!.tlsProtocol, null, 'may: the server offers no STARTTLS, so clear text is allowed for mail without PHI');
});
