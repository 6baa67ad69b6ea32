// The portal through the whole gateway: a message whose policy says `encrypt: [portal]` is kept sealed in the
// portal; the recipient gets a notification without PHI at their server, opens the link over HTTPS, asks for a
// code (which arrives by mail), reads the message, downloads the attachment, and replies; the reply goes through
// scan and policy like any message and reaches the original sender. Every step is audited. The portal has its
// own certificate (portal.tls, from a test CA), apart from the gateway's self-signed SMTP one.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeGatewayDir, startTestGateway } from '../helpers/gateway.js';
import { startSink, type SunkMessage } from '../helpers/sink.js';
import { makeTestCa } from '../helpers/ca.js';
import { swaks } from '../helpers/swaks.js';
import { PortalClient, csrfOf } from '../portal/client.js';
import { queryAudit } from '../../src/audit/query.js';
import { phigate } from '../cli/kit.js';

const ca = makeTestCa(['localhost']);
const text = (m: SunkMessage) => m.bytes.toString('utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('portal end to end: notification, code by mail, read (with a read receipt), attachment, reply back to the sender, revoke', async (t) => {
  const patients = await startSink();
  const clinic = await startSink();
  t.teardown(async () => { await patients.close(); await clinic.close(); });
  const d = makeGatewayDir({
    outbound: { routes: { 'example.org': `127.0.0.1:${patients.port}`, 'clinic.test': `127.0.0.1:${clinic.port}` }, tls: { '*': 'may' }, caFile: null, retry: { schedule: ['10m'], maxAge: '1h' } },
  });
  mkdirSync(join(d.dir, 'policies'));
  writeFileSync(join(d.dir, 'policies', '10.yaml'), 'rules:\n  - id: phi-portal\n    when: { phi: true }\n    then: { encrypt: [portal] }\n  - id: other\n    then: { deliver: may }\n');
  const cfg = d.config;
  cfg['portal'] = { ...cfg['portal'], listen: { host: '127.0.0.1', port: 0 }, baseUrl: 'https://localhost', notificationText: join(process.cwd(), 'config', 'portal-notification.txt'), notificationHtml: join(process.cwd(), 'config', 'portal-notification.html'), readReceipts: true, tls: { cert: ca.serverCertFile, key: ca.serverKeyFile } };
  const { stringify } = await import('yaml');
  writeFileSync(d.configFile, stringify(cfg));
  const gw = await startTestGateway(d, undefined, 200);
  t.teardown(() => gw.stop());
  t.truthy(gw.portalPort);

  const attachment = join(d.dir, 'labs.txt');
  writeFileSync(attachment, 'A1c 7.9 percent; fasting glucose 162 mg/dL\n');
  const r = await swaks(['--server', '127.0.0.1', '--port', String(gw.listeners.addresses['relay']!.port), '--from', 'dr.chen@clinic.test', '--to', 'maria@example.org',
    '--h-From', '"Dr. Chen" <dr.chen@clinic.test>', '--header', 'Subject: Your lab results',
    '--body', 'Dear Maria,\nyour lab results for MRN 00482193 are ready. Diagnosis: type 2 diabetes mellitus.\n', '--attach', `@${attachment}`]);
  t.is(r.code, 0, r.out);

  // the notification: sender's name, a link, no PHI and not the original subject
  const [note] = await patients.waitFor(1, 15_000);
  const n = text(note!);
  t.regex(n, /Dr\. Chen sent you a secure message/);
  t.false(n.includes('00482193') || n.includes('diabetes') || n.includes('lab results'), 'no PHI or subject in the notification');
  const link = /https:\/\/localhost(\/m\/[A-Za-z0-9_-]+)/.exec(n)![1]!;

  const web = new PortalClient(gw.portalPort!, ca.caCert);
  const landing = await web.get(link);
  t.is(landing.status, 200);
  t.false(landing.text.includes('00482193'));
  const sent = await web.post(`${link}/code`, { csrf: csrfOf(landing.text) });
  t.true(sent.status < 400, `code request: ${sent.status}`);
  const codes = await patients.waitFor(2, 15_000);
  const code = /one-time code is (\d{6,8})/.exec(text(codes[1]!))![1]!;
  const form = await web.get(`${link}/verify`);
  const verified = await web.post(`${link}/verify`, { csrf: csrfOf(form.text), code });
  t.true(verified.status === 303 || verified.status === 302 || verified.status === 200, `verify: ${verified.status}`);
  const view = await web.get(`${link}/view`);
  t.is(view.status, 200);
  t.regex(view.text, /MRN 00482193/);
  const att = await web.get(`${link}/attachment/0`);
  t.is(att.status, 200);
  t.is(att.text, 'A1c 7.9 percent; fasting glucose 162 mg/dL\n');
  const replied = await web.post(`${link}/reply`, { csrf: csrfOf(view.text), text: 'Thank you, doctor. Can we talk on Monday?' });
  t.true(replied.status < 400, `reply: ${replied.status}`);

  // the sender got a read receipt, and the reply reaches the clinic like any message (phi: false -> "other")
  const clinicMail = await clinic.waitFor(2, 15_000);
  const receipt = clinicMail.find((m) => /^Subject: Read: your secure message to maria@example\.org\r$/m.test(text(m)))!;
  t.truthy(receipt, clinicMail.map(text).join('\n---\n'));
  t.deepEqual(receipt.to, ['dr.chen@clinic.test']);
  t.false(text(receipt).includes('00482193'));
  const reply = clinicMail.find((m) => m !== receipt);
  t.deepEqual(reply!.to, ['dr.chen@clinic.test']);
  t.is(reply!.from, 'maria@example.org');
  t.regex(text(reply!), /Can we talk on Monday\?/);

  await sleep(300);
  const events = new Set(queryAudit(gw.store, {}).map((e) => e.event));
  for (const e of ['portal-stored', 'portal-code-sent', 'portal-opened', 'portal-attachment', 'portal-replied']) t.true(events.has(e as never), `${e} audited`);
  const replyReceived = queryAudit(gw.store, { event: 'received' }).find((e) => e.details['listener'] === 'portal');
  t.truthy(replyReceived, 'the reply was received through the pipeline');
  t.false(JSON.stringify(queryAudit(gw.store, {})).includes('00482193'), 'no PHI in the audit');

  // an admin withdraws it: the content is destroyed and the link says so
  const list = await phigate(['portal', 'list', '--json', '--config', d.configFile]);
  t.is(list.code, 0, list.stderr);
  const rec = JSON.parse(list.stdout.trim().split('\n')[0]!) as { id: string; recipient: string; state: string };
  t.is(rec.recipient, 'maria@example.org');
  t.is(rec.state, 'active');
  const rv = await phigate(['portal', 'revoke', rec.id, '--config', d.configFile]);
  t.is(rv.code, 0, rv.stderr);
  const gone = await new PortalClient(gw.portalPort!, ca.caCert).get(link);
  t.is(gone.status, 410);
  t.is(gw.store.messages.get(`portal:${rec.id}`), undefined, 'the sealed content is gone');
  t.true(queryAudit(gw.store, { event: 'portal-revoked' }).some((e) => e.actor !== null && e.details['portalId'] === rec.id));
});

test('a sender-set passphrase: [passphrase: ...] leaves the subject of every copy and the audit, and the portal asks for it', async (t) => {
  const patients = await startSink();
  t.teardown(() => patients.close());
  const d = makeGatewayDir({ outbound: { routes: { 'example.org': `127.0.0.1:${patients.port}` }, tls: { '*': 'may' }, caFile: null, retry: { schedule: ['10m'], maxAge: '1h' } } });
  mkdirSync(join(d.dir, 'policies'));
  writeFileSync(join(d.dir, 'policies', '10.yaml'), 'rules:\n  - id: portal-all\n    then: { encrypt: [portal] }\n');
  const cfg = d.config;
  cfg['portal'] = { ...cfg['portal'], listen: { host: '127.0.0.1', port: 0 }, baseUrl: 'https://localhost', tls: { cert: ca.serverCertFile, key: ca.serverKeyFile },
    notificationText: join(process.cwd(), 'config', 'portal-notification.txt'), notificationHtml: join(process.cwd(), 'config', 'portal-notification.html') };
  const { stringify } = await import('yaml');
  writeFileSync(d.configFile, stringify(cfg));
  const gw = await startTestGateway(d, undefined, 200);
  t.teardown(() => gw.stop());
  const r = await swaks(['--server', '127.0.0.1', '--port', String(gw.listeners.addresses['relay']!.port), '--from', 'dr.chen@clinic.test', '--to', 'maria@example.org',
    '--header', 'Subject: Scan results [passphrase: blue horse 42]', '--body', 'The scan is clear.']);
  t.is(r.code, 0, r.out);
  const [note] = await patients.waitFor(1, 15_000);
  const link = /https:\/\/localhost(\/m\/[A-Za-z0-9_-]+)/.exec(text(note!))![1]!;
  const web = new PortalClient(gw.portalPort!, ca.caCert);
  const landing = await web.get(link);
  await web.post(`${link}/code`, { csrf: csrfOf(landing.text) });
  const codes = await patients.waitFor(2, 15_000);
  const code = /one-time code is (\d{6,8})/.exec(text(codes[1]!))![1]!;
  const form = await web.get(`${link}/verify`);
  t.regex(form.text, /id="passphrase"/, 'the portal asks for the passphrase');
  const wrong = await web.post(`${link}/verify`, { csrf: csrfOf(form.text), code, passphrase: 'red horse 42' });
  t.true(wrong.status >= 400, `a wrong passphrase is refused (${wrong.status})`);
  // the wrong try used the code: ask for a new one
  const again = await web.get(`${link}/verify`);
  await web.post(`${link}/code`, { csrf: csrfOf(again.text) });
  const codes2 = await patients.waitFor(3, 15_000);
  const code2 = /one-time code is (\d{6,8})/.exec(text(codes2[2]!))![1]!;
  const form2 = await web.get(`${link}/verify`);
  const ok = await web.post(`${link}/verify`, { csrf: csrfOf(form2.text), code: code2, passphrase: 'blue horse 42' });
  t.true(ok.status < 400, `verify: ${ok.status}`);
  const view = await web.get(`${link}/view`);
  t.regex(view.text, /Scan results/);
  t.false(view.text.includes('blue horse'), 'the token is gone from the subject');
  t.false(JSON.stringify(queryAudit(gw.store, {})).includes('blue horse'), 'and from the audit');
  t.false(text(note!).includes('blue horse'), 'and from the notification');
});
