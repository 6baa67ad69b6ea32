// Encryption fallbacks end to end through SMTP with the real tools: swaks submits, loopback sinks receive, gpg and
// openssl cms decrypt and verify what arrived. A PHI rule `encrypt: [tls, pgp, smime, portal]` walks from verified
// TLS (refused by a server without STARTTLS) to the recipient's OpenPGP key or S/MIME certificate, or holds the
// recipient when it has neither; an encrypted copy is spooled before it is sent and a retry (even after a restart)
// sends the very same bytes; and an MX destination's MTA-STS policy, fetched over HTTPS from a local server, decides
// which MX hosts may get the mail.
import test, { type ExecutionContext } from 'ava';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { makeGatewayDir, type GatewayDir } from '../helpers/gateway.js';
import { startSink, type Sink, type SunkMessage } from '../helpers/sink.js';
import { makeTestCa } from '../helpers/ca.js';
import { swaks } from '../helpers/swaks.js';
import {
  ALL_BYTES, closeGpgHome, gpgDecrypt, gpgHome, header, issueCert, issueSmimeCert, makeGpgKey, makeSmimeCa, multipartParts,
  openssl, splitPart, writeTemp,
} from '../helpers/crypto-keys.js';
import { auditUntil, names, sleep, type TestResolver } from '../deliver/util.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { importCerts, importPgpKey } from '../../src/transform/keystore.js';
import { httpsPolicyFetcher } from '../../src/deliver/mta-sts.js';
import { queryAudit } from '../../src/audit/query.js';
import type { AuditRecord } from '../../src/audit/record.js';

const POLICY = `
rules:
  - id: phi-protected
    when: { phi: true }
    then:
      encrypt: [tls, pgp, smime, portal]
`;

const SUBJECT = 'Lab results from Riverside Clinic';
const PHI_BODY = 'Dear Maria,\r\nyour lab results for MRN 00482193 are ready. Diagnosis: type 2 diabetes mellitus. SSN on file 412-56-7321.\r\n';
/** Values of PHI_BODY that must never show up in the audit or in an encrypted copy. */
const PHI_VALUES = ['00482193', '412-56-7321', 'diabetes', 'Maria'];

interface Opts {
  routes: Record<string, string>;
  caFile?: string;
  retry?: string[];
  encryption?: Record<string, unknown>;
  resolver?: TestResolver;
  mtaStsFetch?: (domain: string) => Promise<string>;
}

/** The gateway directory (config with these routes, the PHI rule) without starting anything. */
function gatewayDir(o: Opts): GatewayDir {
  const d = makeGatewayDir({
    outbound: {
      routes: o.routes, tls: { '*': 'may' }, caFile: o.caFile ?? null,
      retry: { schedule: o.retry ?? ['10m'], maxAge: '1h' }, connectTimeout: '5s',
    },
    ...(o.encryption ? { encryption: o.encryption } : {}),
  });
  mkdirSync(join(d.dir, 'policies'));
  writeFileSync(join(d.dir, 'policies', '10-phi.yaml'), POLICY);
  return d;
}

const noDns: TestResolver = {
  resolveMx: async (n) => { throw Object.assign(new Error(`no MX: ${n}`), { code: 'ENODATA' }); },
  resolve4: async () => [],
  resolve6: async () => [],
  lookup: async (h) => (h === 'localhost' ? ['127.0.0.1'] : Promise.reject(Object.assign(new Error(`no DNS: ${h}`), { code: 'ENOTFOUND' }))),
};

async function start(t: ExecutionContext, d: GatewayDir, o: Opts): Promise<Gateway> {
  const gw = await startGateway({
    configFile: d.configFile, log: silentLogger, resolver: o.resolver ?? noDns, rescanMs: 200,
    ...(o.mtaStsFetch ? { mtaStsFetch: o.mtaStsFetch } : {}),
  });
  t.teardown(() => gw.stop());
  return gw;
}

async function gateway(t: ExecutionContext, o: Opts): Promise<Gateway> {
  return start(t, gatewayDir(o), o);
}

async function sinks(t: ExecutionContext, ...opts: Parameters<typeof startSink>[0][]): Promise<Sink[]> {
  const out = await Promise.all(opts.map((o) => startSink(o)));
  t.teardown(async () => { await Promise.all(out.map((s) => s.close())); });
  return out;
}

function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Submits on the relay port with swaks; returns the queue id from the 250 reply. */
async function send(t: ExecutionContext, gw: Gateway, o: { from?: string; to: string[]; subject?: string; body?: string; attach?: string }): Promise<string> {
  const from = o.from ?? 'ehr@clinic.test';
  const r = await swaks(['--server', '127.0.0.1', '--port', String(gw.listeners.addresses['relay']!.port), '--from', from, '--to', o.to.join(','),
    '--h-From', `<${from}>`, '--header', `Subject: ${o.subject ?? SUBJECT}`, '--body', o.body ?? PHI_BODY,
    ...(o.attach ? ['--attach', `@${o.attach}`] : [])]);
  t.is(r.code, 0, r.out);
  const m = /250 2\.0\.0 Ok: queued as ([0-9A-Z]{20})/.exec(r.out);
  if (!m) throw new Error(`no queue id in swaks output:\n${r.out}`);
  return m[1]!;
}

const has = (evs: AuditRecord[], event: string, recipient?: string) => evs.some((e) => e.event === event && (!recipient || e.recipient === recipient));
const text = (m: SunkMessage) => m.bytes.toString('utf8');

/** Checks the PGP/MIME structure (RFC 3156) of what a sink got and returns the armored OpenPGP message. */
function pgpArmor(t: ExecutionContext, raw: Buffer): string {
  const top = splitPart(raw);
  t.is(header(top, 'subject'), 'Encrypted message', 'the visible subject is neutral');
  const ct = header(top, 'content-type') ?? '';
  t.regex(ct, /^multipart\/encrypted; protocol="application\/pgp-encrypted"; boundary="[^"]+"$/);
  const parts = multipartParts(top.body, /boundary="([^"]+)"/.exec(ct)?.[1] ?? 'none').map(splitPart);
  t.is(parts.length, 2);
  t.is(header(parts[0]!, 'content-type'), 'application/pgp-encrypted');
  const armor = parts[1]!.body.toString('latin1');
  t.regex(armor, /^-----BEGIN PGP MESSAGE-----\r\n[\s\S]+-----END PGP MESSAGE-----/);
  return armor;
}

/** Nothing of the subject or the PHI body is readable in an encrypted copy. */
function opaque(t: ExecutionContext, raw: Buffer): void {
  for (const v of [SUBJECT, ...PHI_VALUES]) t.false(raw.includes(v), `"${v}" is not visible in the encrypted copy`);
}

function noPhiInAudit(t: ExecutionContext, gw: Gateway): void {
  const all = JSON.stringify(queryAudit(gw.store, {}));
  for (const v of PHI_VALUES) t.false(all.includes(v), `no PHI value (${v}) in the audit`);
  t.false(all.includes(SUBJECT), 'the subject is not in the audit');
}

// ---------------------------------------------------------------------------------------------------------------

test('PGP: a server without STARTTLS and a key in the store → PGP/MIME that gpg decrypts, protected subject, attachment byte for byte', async (t) => {
  const [sink] = await sinks(t, {});
  const gw = await gateway(t, { routes: { 'plain.test': `localhost:${sink!.port}` } });
  const home = gpgHome();
  t.teardown(() => closeGpgHome(home));
  const key = makeGpgKey(home, 'Pat <pat@plain.test>', { algo: 'rsa2048', encryptSubkey: 'rsa2048' });
  await importPgpKey(gw.store, key.publicArmored);
  const attachment = writeTemp(tempDir(t, 'phigate-att-'), 'lab-report.bin', ALL_BYTES);

  const qid = await send(t, gw, { to: ['pat@plain.test'], attach: attachment });
  const [m] = await sink!.waitFor(1, 15_000);
  t.deepEqual(m!.to, ['pat@plain.test']);
  t.is(m!.tlsProtocol, null, 'the server offers no STARTTLS: the message itself is encrypted');
  opaque(t, m!.bytes);
  t.is(header(splitPart(m!.bytes), 'to'), 'pat@plain.test', 'routing headers stay outside');
  const inner = gpgDecrypt(home, pgpArmor(t, m!.bytes));
  t.regex(header(splitPart(inner), 'content-type') ?? '', /protected-headers="v1"/);
  const parsed = await simpleParser(inner);
  t.is(parsed.subject, SUBJECT, 'the real subject is inside (protected header)');
  t.true((parsed.text ?? '').includes('your lab results for MRN 00482193 are ready'), parsed.text);
  t.is(parsed.attachments.length, 1);
  t.is(parsed.attachments[0]?.filename, 'lab-report.bin');
  t.deepEqual(parsed.attachments[0]?.content, ALL_BYTES, 'the attachment comes back byte for byte');

  const evs = await auditUntil(gw, qid, (e) => has(e, 'delivered'));
  const policy = evs.find((e) => e.event === 'policy');
  t.is(policy?.details['rule'], 'phi-protected');
  const fallback = evs.filter((e) => e.event === 'route-fallback');
  t.is(fallback.length, 1, names(evs).join(','));
  t.is(fallback[0]?.recipient, 'pat@plain.test');
  t.is(fallback[0]?.details['from'], 'tls');
  t.is(fallback[0]?.details['to'], 'pgp');
  t.is(fallback[0]?.details['reason'], 'tls-unavailable');
  const encrypted = evs.filter((e) => e.event === 'encrypted');
  t.is(encrypted.length, 1);
  t.is(encrypted[0]?.recipient, 'pat@plain.test');
  t.is(encrypted[0]?.details['method'], 'pgp');
  t.is(encrypted[0]?.details['keyFingerprint'], key.fingerprint);
  t.is(encrypted[0]?.details['orgKey'], false);
  const delivered = evs.filter((e) => e.event === 'delivered');
  t.is(delivered.length, 1);
  t.is(delivered[0]?.details['method'], 'pgp');
  t.true(names(evs).indexOf('encrypted') < names(evs).indexOf('delivered'), 'the encrypted copy is recorded before its delivery');
  // decided after the 250 (no rule could refuse it), and still recorded in the order it happened
  t.deepEqual(names(evs).slice(0, 4), ['received', 'queued', 'scanned', 'policy'], names(evs).join(','));
  t.true(names(evs).indexOf('policy') < names(evs).indexOf('route-fallback'), 'the decision is recorded before the fallback and the copy');
  noPhiInAudit(t, gw);
});

test('S/MIME: no PGP key, a certificate in the store → enveloped-data that openssl cms decrypts; signed by the organisation, it verifies', async (t) => {
  const [sink] = await sinks(t, {});
  const ca = makeSmimeCa();
  t.teardown(() => rmSync(ca.dir, { recursive: true, force: true }));
  const pat = issueSmimeCert(ca, 'pat', 'pat@plain.test');
  const org = issueCert(ca, 'org', {
    subject: '/CN=Riverside Clinic/emailAddress=records@clinic.test',
    extensions: ['subjectAltName=email:records@clinic.test', 'extendedKeyUsage=emailProtection', 'keyUsage=digitalSignature,nonRepudiation'],
  });
  const gw = await gateway(t, { routes: { 'plain.test': `localhost:${sink!.port}` }, encryption: { smimeSign: { cert: org.certFile, key: org.keyFile } } });
  await importCerts(gw.store, Buffer.from(pat.certPem));

  const qid = await send(t, gw, { to: ['pat@plain.test'] });
  const [m] = await sink!.waitFor(1, 15_000);
  t.deepEqual(m!.to, ['pat@plain.test']);
  opaque(t, m!.bytes);
  const top = splitPart(m!.bytes);
  t.is(header(top, 'subject'), 'Encrypted message');
  t.regex(header(top, 'content-type') ?? '', /^application\/pkcs7-mime; smime-type=enveloped-data/);
  const tmp = tempDir(t, 'phigate-cms-');
  const signed = openssl(['cms', '-decrypt', '-in', writeTemp(tmp, 'in.eml', m!.bytes), '-recip', pat.certFile, '-inkey', pat.keyFile], ca.dir);
  t.regex(header(splitPart(signed), 'content-type') ?? '', /^multipart\/signed; protocol="application\/pkcs7-signature"/);
  const signedFile = writeTemp(tmp, 'signed.eml', signed);
  const signerOut = join(tmp, 'signer.pem');
  const inner = openssl(['cms', '-verify', '-in', signedFile, '-CAfile', ca.caCertFile, '-purpose', 'smimesign', '-signer', signerOut], ca.dir);
  const parsed = await simpleParser(inner);
  t.is(parsed.subject, SUBJECT, 'the real subject is inside');
  t.true((parsed.text ?? '').includes('your lab results for MRN 00482193 are ready'), parsed.text);
  t.is(new X509Certificate(readFileSync(signerOut)).fingerprint256, new X509Certificate(org.certPem).fingerprint256, 'signed with the organisation certificate');
  // the verification means something: another CA does not vouch for the signer
  const stranger = makeSmimeCa();
  t.teardown(() => rmSync(stranger.dir, { recursive: true, force: true }));
  t.throws(() => openssl(['cms', '-verify', '-in', signedFile, '-CAfile', stranger.caCertFile, '-purpose', 'smimesign'], ca.dir));

  const evs = await auditUntil(gw, qid, (e) => has(e, 'delivered'));
  const fallback = evs.filter((e) => e.event === 'route-fallback');
  t.deepEqual(fallback.map((e) => [e.details['from'], e.details['to']]), [['tls', 'smime']], 'pgp is skipped: no key');
  const encrypted = evs.filter((e) => e.event === 'encrypted');
  t.is(encrypted.length, 1);
  t.is(encrypted[0]?.details['method'], 'smime');
  t.is(encrypted[0]?.details['certFingerprint'], new X509Certificate(pat.certPem).fingerprint256.replace(/:/g, ''));
  t.is(encrypted[0]?.details['signed'], true);
  t.is(evs.find((e) => e.event === 'delivered')?.details['method'], 'smime');
  noPhiInAudit(t, gw);
});

test('one message, three domains: verified TLS (plain copy), PGP (encrypted copy), neither (held, sender told)', async (t) => {
  const tlsCa = makeTestCa(['localhost']);
  t.teardown(() => rmSync(tlsCa.dir, { recursive: true, force: true }));
  const [verified, pgpSink, bare, home] = await sinks(t, { tls: { key: tlsCa.serverKey, cert: tlsCa.serverCert } }, {}, {}, {});
  const gw = await gateway(t, {
    routes: {
      'verified.test': `localhost:${verified!.port}`, 'pgp.test': `localhost:${pgpSink!.port}`,
      'none.test': `localhost:${bare!.port}`, 'clinic.test': `localhost:${home!.port}`,
    },
    caFile: tlsCa.caCertFile,
  });
  const gh = gpgHome();
  t.teardown(() => closeGpgHome(gh));
  const key = makeGpgKey(gh, 'Pat <pat@pgp.test>', { algo: 'rsa2048', encryptSubkey: 'rsa2048' });
  await importPgpKey(gw.store, key.publicArmored);

  const qid = await send(t, gw, { to: ['doc@verified.test', 'pat@pgp.test', 'max@none.test'] });
  const [v] = await verified!.waitFor(1, 15_000);
  const [p] = await pgpSink!.waitFor(1, 15_000);
  const [n] = await home!.waitFor(1, 15_000);

  // verified TLS: the plain message, over TLS
  t.deepEqual(v!.to, ['doc@verified.test']);
  t.regex(v!.tlsProtocol ?? '', /^TLSv1\.[23]$/);
  t.regex(text(v!), new RegExp(`^Subject: ${SUBJECT}\r$`, 'm'));
  t.true(text(v!).includes('MRN 00482193'), 'the verified-TLS copy is not encrypted');
  t.false(text(v!).includes('multipart/encrypted'));
  // PGP: the encrypted copy, which only Pat's key opens
  t.deepEqual(p!.to, ['pat@pgp.test']);
  opaque(t, p!.bytes);
  const inner = await simpleParser(gpgDecrypt(gh, pgpArmor(t, p!.bytes)));
  t.is(inner.subject, SUBJECT);
  t.true((inner.text ?? '').includes('MRN 00482193'));
  t.false(p!.bytes.equals(v!.bytes), 'each recipient has its own copy');
  // neither: held, never sent in clear text; the sender is told
  t.deepEqual(n!.to, ['ehr@clinic.test']);
  t.regex(text(n!), /held and has not been delivered/);
  t.regex(text(n!), /<max@none\.test>: no protected way to send \(rule phi-protected\)/);
  t.false(text(n!).includes('pat@pgp.test'), 'the notice names only the held recipient');
  t.false(text(n!).includes('doc@verified.test'), 'the notice names only the held recipient');
  for (const v2 of PHI_VALUES) t.false(text(n!).includes(v2), 'the notice carries no PHI');

  const evs = await auditUntil(gw, qid, (e) => e.filter((x) => x.event === 'delivered').length === 2 && has(e, 'held') && has(e, 'notice-sent'));
  const delivered = new Map(evs.filter((e) => e.event === 'delivered').map((e) => [e.recipient, e.details]));
  t.is(delivered.get('doc@verified.test')?.['method'], 'tls');
  t.is(delivered.get('doc@verified.test')?.['tlsVerified'], true);
  t.is(delivered.get('pat@pgp.test')?.['method'], 'pgp');
  t.false(delivered.has('max@none.test'));
  t.deepEqual(evs.filter((e) => e.event === 'held').map((e) => e.recipient), ['max@none.test']);
  t.deepEqual(evs.filter((e) => e.event === 'encrypted').map((e) => [e.recipient, e.details['method']]), [['pat@pgp.test', 'pgp']]);
  t.deepEqual(evs.filter((e) => e.event === 'route-fallback').map((e) => e.recipient).sort(), ['max@none.test', 'pat@pgp.test']);
  const entry = gw.store.queue.get(qid) as { status: { address: string; state: string }[] } | undefined;
  t.deepEqual(entry?.status.map((s) => [s.address, s.state]), [['doc@verified.test', 'delivered'], ['pat@pgp.test', 'delivered'], ['max@none.test', 'held']]);
  await sleep(500);
  t.is(bare!.messages.length, 0, 'nothing in clear text to the server without STARTTLS');
  t.is(home!.messages.length, 1, 'one hold notice');
  noPhiInAudit(t, gw);
});

test('crash safety: the encrypted copy is spooled before it is sent; retries (also after a restart) send those very bytes', async (t) => {
  let refuse = true;
  const [sink] = await sinks(t, { onRcpt: () => (refuse ? [451, '4.3.0 Mailbox busy, try again later'] : null) });
  const opts: Opts = { routes: { 'plain.test': `localhost:${sink!.port}` }, retry: ['1s'] };
  const d = gatewayDir(opts);
  const gw = await start(t, d, opts);
  const home = gpgHome();
  t.teardown(() => closeGpgHome(home));
  const key = makeGpgKey(home, 'Pat <pat@plain.test>', { algo: 'rsa2048', encryptSubkey: 'rsa2048' });
  await importPgpKey(gw.store, key.publicArmored);

  const qid = await send(t, gw, { to: ['pat@plain.test'] });
  const copies = (g: Gateway) => [...g.store.messages.getKeys({ start: `out:${qid}#`, end: `out:${qid}$` })];
  let evs = await auditUntil(gw, qid, (e) => has(e, 'deferred', 'pat@plain.test'));
  t.is(evs.find((e) => e.event === 'deferred')?.details['reason'], 'remote-4xx', names(evs).join(','));
  const keys = copies(gw);
  t.is(keys.length, 1, 'one spooled encrypted copy while the delivery is pending');
  const spooled = Buffer.from(gw.store.messages.get(keys[0]!)!);
  pgpArmor(t, spooled);
  opaque(t, spooled);
  t.is((gw.store.queue.get(qid) as { status: { state: string }[] }).status[0]?.state, 'deferred');
  t.is(sink!.messages.length, 0);

  // a retry in the same process reuses the spooled copy
  evs = await auditUntil(gw, qid, (e) => e.filter((x) => x.event === 'deferred').length >= 2, 8000);
  t.true(evs.filter((e) => e.event === 'deferred').length >= 2, 'retried');
  t.deepEqual(copies(gw), keys);
  t.true(Buffer.from(gw.store.messages.get(keys[0]!)!).equals(spooled), 'the spooled copy is unchanged by the retry');
  t.is(evs.filter((e) => e.event === 'encrypted').length, 1, 'encrypted once, not again for the retry');

  // the gateway goes away; a new one on the same data sends what was spooled
  await gw.stop();
  refuse = false;
  const gw2 = await start(t, d, opts);
  const [m] = await sink!.waitFor(1, 15_000);
  t.true(m!.bytes.equals(spooled), 'the delivered bytes are the spooled encrypted copy, not a new encryption');
  t.true(gpgDecrypt(home, pgpArmor(t, m!.bytes)).includes('MRN 00482193'));
  evs = await auditUntil(gw2, qid, (e) => has(e, 'delivered'));
  t.is(evs.filter((e) => e.event === 'encrypted').length, 1, 'one encryption for the whole life of the message');
  t.is(evs.find((e) => e.event === 'delivered')?.details['method'], 'pgp');
  t.deepEqual(copies(gw2), [], 'the spooled copy is removed once the message is done');
  await sleep(300);
  t.is(sink!.messages.length, 1);
});

// ---------------------------------------------------------------------------------------------------------------
// MTA-STS: sts.test publishes _mta-sts TXT and a policy at https://mta-sts.sts.test (a local HTTPS server with a
// test-CA certificate); its MX record names mx.wrong.test or mx.right.test, both on the sink's port.

interface Sts { gw: Gateway; sink: Sink; state: { mx: string }; fetched: { url: string; host: string }[] }

async function stsSetup(t: ExecutionContext, mode: 'enforce' | 'testing', mx: string, sinkCert?: { key: string; cert: string }): Promise<Sts> {
  const ca = makeTestCa(['mx.right.test', 'mta-sts.sts.test']);
  t.teardown(() => rmSync(ca.dir, { recursive: true, force: true }));
  const [sink] = await sinks(t, { tls: sinkCert ?? { key: ca.serverKey, cert: ca.serverCert } });
  const fetched: { url: string; host: string }[] = [];
  const server = https.createServer({ key: ca.serverKey, cert: ca.serverCert }, (req, res) => {
    fetched.push({ url: req.url ?? '', host: req.headers.host ?? '' });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`version: STSv1\r\nmode: ${mode}\r\nmx: mx.right.test\r\nmax_age: 86400\r\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const state = { mx };
  const miss = (n: string) => Object.assign(new Error(`no record: ${n}`), { code: 'ENODATA' });
  const hosts = ['mx.right.test', 'mx.wrong.test'];
  const resolver: TestResolver = {
    mxPort: sink!.port,
    resolveMx: async (n) => { if (n === 'sts.test') return [{ exchange: `${state.mx}.`, priority: 10 }]; throw miss(n); },
    resolve4: async (n) => { throw miss(n); },
    resolve6: async (n) => { throw miss(n); },
    resolveTxt: async (n) => { if (n === '_mta-sts.sts.test') return [['v=STSv1; id=20260101']]; throw miss(n); },
    lookup: async (h) => { if (hosts.includes(h)) return ['127.0.0.1']; throw Object.assign(new Error(`no address: ${h}`), { code: 'ENOTFOUND' }); },
  };
  const mtaStsFetch = httpsPolicyFetcher({
    ca: ca.caCert, port: (server.address() as AddressInfo).port,
    lookup: async (h) => { if (h === 'mta-sts.sts.test') return '127.0.0.1'; throw new Error(`no address: ${h}`); },
  });
  const gw = await gateway(t, { routes: { '*': 'mx' }, caFile: ca.caCertFile, retry: ['1s'], resolver, mtaStsFetch });
  return { gw, sink: sink!, state, fetched };
}

const MEMO = 'The staff meeting moved to Tuesday.';

test('MTA-STS enforce: an MX outside the policy gets nothing (deferred, mta-sts-mx-mismatch); the listed MX gets it over verified TLS', async (t) => {
  const { gw, sink, state, fetched } = await stsSetup(t, 'enforce', 'mx.wrong.test');
  const qid = await send(t, gw, { to: ['doc@sts.test'], subject: 'Staff meeting', body: MEMO });
  let evs = await auditUntil(gw, qid, (e) => has(e, 'deferred'));
  const deferred = evs.find((e) => e.event === 'deferred');
  t.is(deferred?.details['reason'], 'mta-sts-mx-mismatch', names(evs).join(','));
  const attempt = evs.find((e) => e.event === 'delivery-attempt');
  t.is(attempt?.details['mtaSts'], 'enforce');
  t.deepEqual((attempt?.details['hopsTried'] as { host: string; reason: string }[]).map((h) => [h.host, h.reason]), [['mx.wrong.test', 'mta-sts-mx-mismatch']]);
  t.deepEqual(fetched[0], { url: '/.well-known/mta-sts.txt', host: 'mta-sts.sts.test' }, 'the policy came from the HTTPS server');
  t.like(gw.store.meta.get('sts:sts.test') as object, { id: '20260101', mode: 'enforce', mx: ['mx.right.test'] });
  t.is(sink.connections, 0, 'the MX outside the policy is not even contacted');
  t.is(sink.messages.length, 0);

  // the MX record now names the host the policy lists: the retry delivers, over TLS verified for that name
  state.mx = 'mx.right.test';
  const [m] = await sink.waitFor(1, 15_000);
  t.true(text(m!).includes(MEMO));
  t.regex(m!.tlsProtocol ?? '', /^TLSv1\.[23]$/);
  evs = await auditUntil(gw, qid, (e) => has(e, 'delivered'));
  const delivered = evs.find((e) => e.event === 'delivered');
  t.is(delivered?.details['host'], 'mx.right.test');
  t.is(delivered?.details['tlsVerified'], true);
  t.is(delivered?.details['tlsRequired'], 'verify', 'enforce raises the outbound level (may) to verify');
  const last = evs.filter((e) => e.event === 'delivery-attempt').at(-1);
  t.is(last?.details['mtaSts'], 'enforce');
  t.is(last?.details['host'], 'mx.right.test');
});

test('MTA-STS enforce: the listed MX with a certificate that does not verify is not sent to', async (t) => {
  const stray = makeTestCa(['mx.right.test']); // a CA the gateway does not trust
  t.teardown(() => rmSync(stray.dir, { recursive: true, force: true }));
  const { gw, sink } = await stsSetup(t, 'enforce', 'mx.right.test', { key: stray.serverKey, cert: stray.serverCert });
  const qid = await send(t, gw, { to: ['doc@sts.test'], subject: 'Staff meeting', body: MEMO });
  const evs = await auditUntil(gw, qid, (e) => has(e, 'deferred'));
  const deferred = evs.find((e) => e.event === 'deferred');
  t.truthy(deferred, names(evs).join(','));
  t.not(deferred?.details['reason'], 'mta-sts-mx-mismatch');
  t.is(deferred?.details['tlsRequired'], 'verify');
  t.is(evs.find((e) => e.event === 'delivery-attempt')?.details['mtaSts'], 'enforce');
  await sleep(300);
  t.is(sink.messages.length, 0);
});

test('MTA-STS testing: an MX outside the policy still gets the message; the attempt records the mismatch', async (t) => {
  const { gw, sink, fetched } = await stsSetup(t, 'testing', 'mx.wrong.test');
  const qid = await send(t, gw, { to: ['doc@sts.test'], subject: 'Staff meeting', body: MEMO });
  const [m] = await sink.waitFor(1, 15_000);
  t.true(text(m!).includes(MEMO));
  t.true(fetched.length >= 1, 'the policy was fetched');
  const evs = await auditUntil(gw, qid, (e) => has(e, 'delivered'));
  const attempt = evs.find((e) => e.event === 'delivery-attempt');
  t.is(attempt?.details['mtaSts'], 'testing');
  t.deepEqual((attempt?.details['hopsTried'] as { host: string; reason: string }[]).map((h) => [h.host, h.reason]), [['mx.wrong.test', 'mta-sts-testing']]);
  const delivered = evs.find((e) => e.event === 'delivered');
  t.is(delivered?.details['host'], 'mx.wrong.test');
  t.is(delivered?.details['tlsRequired'], 'may', 'testing does not raise the TLS level');
});
