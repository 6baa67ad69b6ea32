// `phigate quarantine list|show|release|delete` on a live in-process gateway whose policy holds mail for example.net: the held entry and its reason, the sender's notice (no content), a release delivered to a real TLS sink at the next scan, a delete that sends nothing, both audited with the admin as actor; unknown ids are one-line errors.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeGatewayDir, startTestGateway, noDns } from '../helpers/gateway.js';
import { relaySend } from '../helpers/raw-smtp.js';
import { startSink, type SunkMessage } from '../helpers/sink.js';
import { makeTestCa } from '../helpers/ca.js';
import { getEntry } from '../../src/spool/spool.js';
import { queryAudit } from '../../src/audit/query.js';
import type { Gateway } from '../../src/gateway.js';
import { phigate, auditJson, ACTOR, ONE_LINE_ERROR } from './kit.js';

const ca = makeTestCa(['localhost']);
const RESCAN_MS = 400;

const HOLD_POLICY = `rules:
  - id: hold-all
    description: everything to example.net waits for review
    when:
      recipient: { domain: example.net }
    then:
      quarantine: "needs review"
`;

async function until<T>(fn: () => T | undefined | null | false, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A gateway with the hold policy whose every route goes to one sink with a certificate from the test CA. */
async function holdingGateway(t: import('ava').ExecutionContext) {
  const sink = await startSink({ tls: { key: ca.serverKey, cert: ca.serverCert } });
  t.teardown(() => sink.close());
  const d = makeGatewayDir({
    outbound: { routes: { '*': `localhost:${sink.port}` }, tls: { '*': 'verify' }, caFile: ca.caCertFile, retry: { schedule: ['1h'], maxAge: '2d' } },
  });
  mkdirSync(join(d.dir, 'policies'));
  writeFileSync(join(d.dir, 'policies', '10-hold.yaml'), HOLD_POLICY);
  const gw = await startTestGateway(d, noDns, RESCAN_MS);
  t.teardown(() => gw.stop());
  return { d, gw, sink };
}

function send(gw: Gateway, from: string, to: string, subject: string, body: string): Promise<string> {
  return relaySend(gw.listeners.addresses['relay']!.port, from, [to],
    `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${body}@lab.test>\r\n\r\nPatient J. Doe, DOB 03/14/1961, MRN 88123456.\r\n${body}\r\n`);
}

const heldIn = (gw: Gateway, id: string) => getEntry(gw.store, id)?.status.every((s) => s.state === 'held');
const text = (m: SunkMessage) => m.bytes.toString('utf8');

test('a held message: list, show, the sender notice, release delivers at the next scan, delete sends nothing; both audited', async (t) => {
  const { d, gw, sink } = await holdingGateway(t);
  const id1 = await send(gw, 'ehr@clinic.test', 'patient@example.net', 'Lab results for J. Doe', 'release-body-4417');
  const id2 = await send(gw, 'billing@clinic.test', 'other@example.net', 'Statement for R. Roe', 'delete-body-9021');
  await until(() => heldIn(gw, id1) && heldIn(gw, id2), 10_000, 'both messages held');
  const entry = getEntry(gw.store, id1)!;
  const REASON = 'held for review by rule hold-all: needs review';
  t.is(entry.status[0]!.heldReason, REASON);
  t.is(entry.status[0]!.route?.rule, 'hold-all');

  // each sender is told, from the null sender, that the message was held; the notice carries no content
  const notices = await sink.waitFor(2, 15_000);
  t.is(notices.length, 2, 'only the two notices: nothing held was sent');
  for (const [sender, id, subject, body] of [['ehr@clinic.test', id1, 'Lab results', 'release-body-4417'], ['billing@clinic.test', id2, 'Statement for', 'delete-body-9021']] as const) {
    const n = notices.find((m) => m.to.includes(sender));
    t.truthy(n, `a notice to ${sender}`);
    t.is(n!.from, '', 'null sender');
    t.deepEqual(n!.to, [sender]);
    t.regex(text(n!), /held/i);
    t.true(text(n!).includes(`<${sender === 'ehr@clinic.test' ? 'patient' : 'other'}@example.net>: ${REASON}`), 'says which recipient and why');
    t.true(text(n!).includes(`Queue ID: ${id}`), 'names the queue id');
    t.false(text(n!).includes(subject), 'not the original subject');
    t.false(text(n!).replace(`<${body}@lab.test>`, '').includes(body), 'not the body');
    t.false(text(n!).includes('88123456'), 'not the MRN');
  }

  // list: one row per held recipient with the rule and the reason
  const list = await phigate(['quarantine', 'list', '-c', d.configFile]);
  t.is(list.code, 0, list.stderr);
  const rows = list.stdout.trim().split('\n');
  t.regex(rows[0]!, /^QUEUE ID\s+RECEIVED\s+SENDER\s+HELD RECIPIENT\s+RULE\s+REASON$/);
  t.regex(rows[1]!, /^[- ]+$/);
  t.is(rows.length, 4, list.stdout);
  t.regex(list.stdout, new RegExp(`^${id1}\\s+\\S+\\s+ehr@clinic\\.test\\s+patient@example\\.net\\s+hold-all\\s+held for review by rule hold-all: needs review$`, 'm'));
  t.regex(list.stdout, new RegExp(`^${id2}\\s+\\S+\\s+billing@clinic\\.test\\s+other@example\\.net\\s+hold-all\\s+held for review by rule hold-all: needs review$`, 'm'));
  const json = (await phigate(['quarantine', 'list', '--json', '-c', d.configFile])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { queueId: string; held: { recipient: string; rule: string; reason: string }[] });
  t.deepEqual(json.find((o) => o.queueId === id1)?.held, [{ recipient: 'patient@example.net', rule: 'hold-all', reason: REASON }]);

  // show: the rule and the reason, never the content
  const show = await phigate(['quarantine', 'show', id1, '-c', d.configFile]);
  t.is(show.code, 0, show.stderr);
  t.regex(show.stdout, new RegExp(`^queue id:\\s+${id1}$`, 'm'));
  t.regex(show.stdout, /^sender:\s+ehr@clinic\.test$/m);
  t.regex(show.stdout, /^patient@example\.net\s+held\s+hold-all\s+held for review by rule hold-all: needs review$/m);
  t.false(show.stdout.includes('Lab results'), 'no subject');
  t.false(show.stdout.replace('release-body-4417@lab.test', '').includes('release-body-4417'), 'no body');
  t.false(show.stdout.includes('88123456') || show.stdout.includes('03/14/1961'), 'no PHI values');
  const showJson = await phigate(['quarantine', 'show', id1, '--json', '-c', d.configFile]);
  t.is(showJson.code, 0, showJson.stderr);
  const shown = JSON.parse(showJson.stdout) as { queueId: string; status: { address: string; state: string }[]; scan: { phi: boolean } | null };
  t.is(shown.queueId, id1);
  t.deepEqual(shown.status.map((s) => [s.address, s.state]), [['patient@example.net', 'held']]);
  t.truthy(shown.scan, 'the scan facts are kept beside the held message');
  for (const secret of ['Lab results', '88123456', '03/14/1961', 'Doe']) t.false(showJson.stdout.includes(secret), `--json has no "${secret}"`);

  // release: the running gateway delivers at its next scan, over verified TLS
  const released = await phigate(['quarantine', 'release', id1, '-c', d.configFile]);
  t.is(released.code, 0, released.stderr);
  t.is(released.stdout, `${id1}: released 1 recipient(s) (patient@example.net over verify); the gateway sends them within seconds\n`);
  await sink.waitFor(3, RESCAN_MS + 5000); // throws when it does not come within a scan (plus time to deliver)
  const delivered = sink.messages[2]!;
  t.deepEqual([delivered.from, delivered.to], ['ehr@clinic.test', ['patient@example.net']]);
  t.regex(text(delivered), /release-body-4417/);
  t.truthy(delivered.tlsProtocol, 'sent over TLS');
  await until(() => !getEntry(gw.store, id1), 5000, 'the released message to leave the queue');

  // delete: gone from the quarantine, never sent
  const del = await phigate(['quarantine', 'delete', id2, '-c', d.configFile]);
  t.is(del.code, 0, del.stderr);
  t.is(del.stdout, `${id2}: discarded 1 held recipient(s)\n`);
  t.is(getEntry(gw.store, id2), undefined, 'the queue entry is gone');
  t.is(gw.store.messages.get(id2), undefined, 'and so are the held bytes');
  await sleep(RESCAN_MS * 3);
  t.is(sink.messages.length, 3, 'nothing more reached the sink');
  t.false(sink.messages.some((m) => m.to.includes('other@example.net')));
  const after = await phigate(['quarantine', 'list', '-c', d.configFile]);
  t.is(after.code, 0, after.stderr);
  t.is(after.stdout, 'quarantine is empty\n');
  const again = await phigate(['quarantine', 'release', id2, '-c', d.configFile]);
  t.is(again.code, 1, 'a deleted message cannot be released');
  t.regex(again.stderr, ONE_LINE_ERROR);

  // both actions are audited with the admin's name
  const rel = await auditJson(d.configFile, ['--event', 'quarantine-release']);
  t.deepEqual(rel.map((e) => [e.queueId, e.actor, e.recipients]), [[id1, ACTOR, ['patient@example.net']]]);
  t.is(rel[0]!.messageId, 'release-body-4417@lab.test');
  const gone = await auditJson(d.configFile, ['--event', 'quarantine-delete']);
  t.deepEqual(gone.map((e) => [e.queueId, e.actor, e.recipients]), [[id2, ACTOR, ['other@example.net']]]);
  const trail = (await auditJson(d.configFile, ['--queue-id', id1])).map((e) => e.event);
  t.true(trail.indexOf('held') < trail.indexOf('quarantine-release') && trail.indexOf('quarantine-release') < trail.indexOf('delivered'), trail.join(' '));
  t.false((await auditJson(d.configFile, ['--queue-id', id2])).some((e) => e.event === 'delivered'));
});

test('quarantine show, release and delete of an unknown id: exit 1, one line, nothing audited', async (t) => {
  const d = makeGatewayDir();
  const empty = await phigate(['quarantine', 'list', '-c', d.configFile]);
  t.is(empty.code, 0, empty.stderr);
  t.is(empty.stdout, 'quarantine is empty\n');
  for (const cmd of ['show', 'release', 'delete']) {
    const r = await phigate(['quarantine', cmd, '01ABCDEFGHJKMNPQRSTV', '-c', d.configFile]);
    t.is(r.code, 1, cmd);
    t.is(r.stdout, '', cmd);
    t.regex(r.stderr, ONE_LINE_ERROR, cmd);
    t.regex(r.stderr, /^phigate: no held message 01ABCDEFGHJKMNPQRSTV /, cmd);
  }
  const bad = await phigate(['quarantine', 'release', '01ABCDEFGHJKMNPQRSTV', '--tls', 'plaintext', '-c', d.configFile]);
  t.is(bad.code, 1);
  t.is(bad.stderr, 'phigate: --tls must be one of: none, may, encrypt, verify\n');
  const events = await auditJson(d.configFile);
  t.false(events.some((e) => e.event.startsWith('quarantine')), 'a refused action is not audited');
});

test('an encrypt route with no usable method (portal only) is held too, and quarantine release sends it over verified TLS', async (t) => {
  const sink = await startSink({ tls: { key: ca.serverKey, cert: ca.serverCert } });
  t.teardown(() => sink.close());
  const d = makeGatewayDir({
    outbound: { routes: { '*': `localhost:${sink.port}` }, tls: { '*': 'verify' }, caFile: ca.caCertFile, retry: { schedule: ['1h'], maxAge: '2d' } },
  });
  mkdirSync(join(d.dir, 'policies'));
  writeFileSync(join(d.dir, 'policies', '10-portal.yaml'), 'rules:\n  - id: portal-only\n    when:\n      recipient: { domain: example.org }\n    then:\n      encrypt: [portal]\n');
  const gw = await startTestGateway(d, noDns, RESCAN_MS);
  t.teardown(() => gw.stop());
  const id = await send(gw, 'ehr@clinic.test', 'patient@example.org', 'Imaging report', 'portal-body-3310');
  await until(() => heldIn(gw, id), 10_000, 'the message held');
  const list = await phigate(['quarantine', 'list', '--json', '-c', d.configFile]);
  t.is(list.code, 0, list.stderr);
  const rows = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { queueId: string; held: { recipient: string; rule: string; reason: string }[] });
  t.deepEqual(rows.map((r) => [r.queueId, r.held.map((h) => [h.recipient, h.rule])]), [[id, [['patient@example.org', 'portal-only']]]]);
  t.regex(rows[0]!.held[0]!.reason, /portal/i, 'the reason names the method that could not be used');
  await sink.waitFor(1, 15_000); // the sender's notice
  t.deepEqual(sink.messages.map((m) => [m.from, m.to]), [['', ['ehr@clinic.test']]]);

  const r = await phigate(['quarantine', 'release', id, '-c', d.configFile]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${id}: released 1 recipient(s) (patient@example.org over verify); the gateway sends them within seconds\n`);
  await sink.waitFor(2, RESCAN_MS + 5000);
  const m = sink.messages[1]!;
  t.deepEqual([m.from, m.to], ['ehr@clinic.test', ['patient@example.org']]);
  t.regex(m.bytes.toString(), /portal-body-3310/);
  t.truthy(m.tlsProtocol, 'over TLS');
  // the outcome is committed in the batch after the send (within about 100 ms): wait for it in the store, then ask
  // the CLI once (each in-process CLI call opens the store a second time in this process)
  await until(() => queryAudit(gw.store, { queueId: id, event: 'delivered' }).length, 10_000, 'the delivered event');
  const delivered = (await auditJson(d.configFile, ['--queue-id', id])).find((e) => e.event === 'delivered');
  t.truthy(delivered);
  t.is(delivered?.details['tlsVerified'], true);
});
