// `phigate keys import|list|remove` and `phigate certs import|list|remove` through the real binary against a
// gateway's config (no gateway running): real GnuPG keys and certificates issued by `openssl ca`. Good material is
// stored and listed; unusable material is refused with exit 1, one line naming the reason, and nothing stored;
// every change is an audit event naming the admin and the fingerprint, never the key material. Then the lookups the
// gateway makes at send time (pgpKeyFor, smimeCertFor) in this process against a store.
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeGatewayDir, type GatewayDir } from '../helpers/gateway.js';
import {
  closeGpgHome, gpg, gpgHome, issueCert, issueSmimeCert, makeGpgKey, makeSmimeCa, openssl, revokeGpgKey, writeTemp,
  type GpgHome, type GpgKey, type IssuedCert, type SmimeCa,
} from '../helpers/crypto-keys.js';
import { openStore, type Store } from '../../src/store.js';
import { importCerts, importPgpKey, pgpKeyFor, smimeCertFor } from '../../src/transform/keystore.js';
import { certPems } from '../../src/transform/smime.js';
import { cliInProcess } from '../helpers/cli.js';
import { phigate, auditJson, ACTOR, ONE_LINE_ERROR } from './kit.js';

let home: GpgHome;
let files: string; // a directory for the files handed to the CLI
let rsa: GpgKey; // rsa2048 primary (sign) + rsa2048 encryption subkey
let ed: GpgKey; // ed25519 primary (sign) + cv25519 encryption subkey
let ca: SmimeCa;
let pat: IssuedCert; // a good S/MIME certificate
let org: IssuedCert; // another good one

test.before(() => {
  home = gpgHome();
  files = mkdtempSync(join(tmpdir(), 'phigate-keys-cli-'));
  rsa = makeGpgKey(home, 'Pat Doe <Pat.Doe@Example.org>', { algo: 'rsa2048', encryptSubkey: 'rsa2048' });
  ed = makeGpgKey(home, 'Eve <eve@example.net>', { algo: 'ed25519', encryptSubkey: 'cv25519' });
  ca = makeSmimeCa();
  pat = issueSmimeCert(ca, 'pat', 'Pat@Example.org');
  org = issueSmimeCert(ca, 'archive', 'archive@clinic.example');
});

test.after.always(() => {
  closeGpgHome(home);
});

const sha256Of = (certFile: string) =>
  openssl(['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256'], ca.dir).toString().trim().replace(/^.*=/, '').replace(/:/g, '');

/** A base64 line from the middle of an armored key or PEM: key material that must never reach the audit. */
function materialLine(text: string): string {
  const lines = text.split(/\r?\n/).filter((l) => /^[A-Za-z0-9+/]{60,}$/.test(l));
  if (lines.length < 3) throw new Error('no base64 body lines');
  return lines[Math.floor(lines.length / 2)]!;
}

interface KeyJson { fingerprint: string; emails: string[]; algorithm: string; created: string; expires: string | null; canEncrypt: boolean }
interface CertJson { fingerprint: string; subject: string; emails: string[]; notAfter: string }

/**
 * `keys list --json` / `certs list --json`: through the binary when `binary`, else the CLI's own code in this
 * process, which spares a Node start-up per check of what is stored (no gateway runs in this file).
 */
async function keysJson(d: GatewayDir, binary = false): Promise<KeyJson[]> {
  const args = ['keys', 'list', '--json', '--config', d.configFile];
  const r = await (binary ? phigate(args) : cliInProcess(args));
  if (r.code !== 0) throw new Error(`keys list failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as KeyJson);
}

async function certsJson(d: GatewayDir, binary = false): Promise<CertJson[]> {
  const args = ['certs', 'list', '--json', '--config', d.configFile];
  const r = await (binary ? phigate(args) : cliInProcess(args));
  if (r.code !== 0) throw new Error(`certs list failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as CertJson);
}

// ---- OpenPGP keys -------------------------------------------------------------------------------------------------

test('keys import of an RSA and an ed25519/cv25519 key: named in the output, listed, audited without the key', async (t) => {
  const d = makeGatewayDir();
  const empty = await phigate(['keys', 'list', '--config', d.configFile]);
  t.is(empty.code, 0, empty.stderr);
  t.is(empty.stdout, 'no keys\n');

  const r1 = await phigate(['keys', 'import', writeTemp(files, 'rsa.asc', rsa.publicArmored), '--config', d.configFile]);
  t.is(r1.code, 0, r1.stderr);
  t.is(r1.stderr, '');
  t.is(r1.stdout, `imported ${rsa.fingerprint} for pat.doe@example.org\n`);
  const r2 = await phigate(['keys', 'import', writeTemp(files, 'ed.asc', ed.publicArmored), '--config', d.configFile]);
  t.is(r2.code, 0, r2.stderr);
  t.is(r2.stdout, `imported ${ed.fingerprint} for eve@example.net\n`);

  // --json: one object per key with its facts
  const listed = await keysJson(d, true);
  t.deepEqual(listed.map((k) => k.fingerprint).sort(), [rsa.fingerprint, ed.fingerprint].sort());
  const rk = listed.find((k) => k.fingerprint === rsa.fingerprint)!;
  const ek = listed.find((k) => k.fingerprint === ed.fingerprint)!;
  t.deepEqual(rk.emails, ['pat.doe@example.org']);
  t.deepEqual(ek.emails, ['eve@example.net']);
  t.regex(rk.algorithm, /^rsa\w* 2048$/);
  t.regex(ek.algorithm, /ed25519/i);
  t.is(rk.expires, null);
  t.true(rk.canEncrypt);
  t.true(ek.canEncrypt);
  t.false(JSON.stringify(listed).includes(materialLine(rsa.publicArmored)), 'list never prints the key');

  // table: header, rule, one row per key
  const table = await phigate(['keys', 'list', '--config', d.configFile]);
  t.is(table.code, 0, table.stderr);
  const rows = table.stdout.trimEnd().split('\n');
  t.regex(rows[0]!, /^FINGERPRINT\s+EMAILS\s+ALGORITHM\s+CREATED\s+EXPIRES$/);
  t.regex(rows[1]!, /^-+( +-+){4}$/);
  t.is(rows.length, 4);
  const today = new Date().toISOString().slice(0, 10);
  t.regex(table.stdout, new RegExp(`^${rsa.fingerprint}\\s+pat\\.doe@example\\.org\\s+rsa\\w* 2048\\s+${today}\\s+never$`, 'm'));
  t.regex(table.stdout, new RegExp(`^${ed.fingerprint}\\s+eve@example\\.net\\s+.*ed25519.*\\s+${today}\\s+never$`, 'mi'));

  // audit: one keys-import per key, the admin as actor, the fingerprint, never the key material
  const events = await auditJson(d.configFile, ['--event', 'keys-import']);
  t.is(events.length, 2);
  t.true(events.every((e) => e.event === 'keys-import' && e.actor === ACTOR));
  t.deepEqual(events.map((e) => e.details['fingerprint']), [rsa.fingerprint, ed.fingerprint]);
  t.deepEqual(events[0]!.details['emails'], ['pat.doe@example.org']);
  const all = JSON.stringify(await auditJson(d.configFile));
  t.false(all.includes('BEGIN PGP'));
  t.false(all.includes(materialLine(rsa.publicArmored)));
  t.false(all.includes(materialLine(ed.publicArmored)));
});

test('keys import of a key that expires later names the expiry; list shows its date', async (t) => {
  const d = makeGatewayDir();
  const k = makeGpgKey(home, 'Temp <temp@example.org>', { algo: 'ed25519', encryptSubkey: 'cv25519', expire: '2y' });
  // the primary key's expiry as gpg lists it (field 7 of the pub line, seconds since the epoch)
  const pub = gpg(home, ['--with-colons', '--list-keys', k.fingerprint]).toString('utf8').split('\n').find((l) => l.startsWith('pub:'))!;
  const expires = new Date(Number(pub.split(':')[6]) * 1000).toISOString();
  t.true(Date.parse(expires) > Date.now() + 365 * 86_400_000);
  const r = await phigate(['keys', 'import', writeTemp(files, 'temp.asc', k.publicArmored), '--config', d.configFile]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `imported ${k.fingerprint} for temp@example.org (expires ${expires})\n`);
  t.deepEqual((await keysJson(d)).map((x) => [x.fingerprint, x.expires]), [[k.fingerprint, expires]]);
  const table = await phigate(['keys', 'list', '--config', d.configFile]);
  t.regex(table.stdout, new RegExp(`^${k.fingerprint}\\s+temp@example\\.org\\s+.+\\s+${expires.slice(0, 10)}$`, 'm'));
  const [ev] = await auditJson(d.configFile, ['--event', 'keys-import']);
  t.is(ev!.details['expires'], expires);
});

test('keys import refuses expired, revoked, signing-only and private keys, non-keys and a missing file: exit 1, one line, nothing stored', async (t) => {
  const d = makeGatewayDir();
  const expired = makeGpgKey(home, 'Old <old@example.org>', { algo: 'rsa2048', encryptSubkey: 'rsa2048', expire: '1d', fakedTime: '20200101T000000' });
  const toRevoke = makeGpgKey(home, 'Gone <gone@example.org>', { algo: 'ed25519', encryptSubkey: 'cv25519' });
  const revoked = revokeGpgKey(home, toRevoke.fingerprint);
  const signOnly = makeGpgKey(home, 'Signer <signer@example.org>', { algo: 'ed25519', usage: 'sign' });
  const secret = gpg(home, ['--armor', '--export-secret-keys', rsa.fingerprint]).toString('utf8');
  t.true(secret.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----'));
  const missing = join(files, 'does-not-exist.asc');

  const cases: [string, string, string | RegExp][] = [
    ['expired', writeTemp(files, 'expired.asc', expired.publicArmored), `phigate: key ${expired.fingerprint} expired on 2020-01-02T00:00:00.000Z\n`],
    ['revoked', writeTemp(files, 'revoked.asc', revoked), `phigate: key ${toRevoke.fingerprint} is revoked\n`],
    ['signing-only', writeTemp(files, 'signer.asc', signOnly.publicArmored),
      `phigate: key ${signOnly.fingerprint} has no usable encryption subkey (a signing-only key cannot receive mail)\n`],
    ['private', writeTemp(files, 'secret.asc', secret),
      'phigate: this is a private key; import the recipient\'s public key (gpg --export --armor ADDRESS)\n'],
    ['not a key', writeTemp(files, 'notes.asc', 'Dear admin,\nplease import my key.\n'), /^phigate: not an OpenPGP public key: /],
    ['a certificate', pat.certFile, /^phigate: not an OpenPGP public key: /],
    ['missing', missing, `phigate: ${missing}: cannot read: ENOENT\n`],
  ];
  for (const [what, file, reason] of cases) {
    const r = await phigate(['keys', 'import', file, '--config', d.configFile]);
    t.is(r.code, 1, `${what}: ${r.stderr}`);
    t.is(r.stdout, '', what);
    t.regex(r.stderr, ONE_LINE_ERROR, what);
    if (typeof reason === 'string') t.is(r.stderr, reason, what);
    else t.regex(r.stderr, reason, what);
  }
  t.deepEqual(await keysJson(d), [], 'nothing stored');
  t.deepEqual(await auditJson(d.configFile, ['--event', 'keys-import']), [], 'nothing audited');
  t.false(JSON.stringify(await auditJson(d.configFile)).includes(materialLine(secret)), 'no private key material anywhere in the audit');
});

test('keys remove drops the key and is audited; an unknown fingerprint is one line, exit 1', async (t) => {
  const d = makeGatewayDir();
  for (const [n, k] of [['rsa', rsa], ['ed', ed]] as const) {
    t.is((await phigate(['keys', 'import', writeTemp(files, `rm-${n}.asc`, k.publicArmored), '--config', d.configFile])).code, 0);
  }
  const r = await phigate(['keys', 'remove', rsa.fingerprint, '--config', d.configFile]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `removed ${rsa.fingerprint}\n`);
  t.deepEqual((await keysJson(d)).map((k) => k.fingerprint), [ed.fingerprint], 'only the other key is left');
  const table = await phigate(['keys', 'list', '--config', d.configFile]);
  t.false(table.stdout.includes(rsa.fingerprint));
  const removed = await auditJson(d.configFile, ['--event', 'keys-remove']);
  t.is(removed.length, 1);
  t.is(removed[0]!.actor, ACTOR);
  t.is(removed[0]!.details['fingerprint'], rsa.fingerprint);

  // the same key again, and one never imported
  for (const fp of [rsa.fingerprint, '0123456789ABCDEF0123456789ABCDEF01234567']) {
    const again = await phigate(['keys', 'remove', fp, '--config', d.configFile]);
    t.is(again.code, 1);
    t.is(again.stdout, '');
    t.regex(again.stderr, ONE_LINE_ERROR);
    t.is(again.stderr, `phigate: no key ${fp} (see: phigate keys list)\n`);
  }
  t.is((await auditJson(d.configFile, ['--event', 'keys-remove'])).length, 1, 'a failed remove is not audited');
  t.deepEqual((await keysJson(d)).map((k) => k.fingerprint), [ed.fingerprint]);
});

// ---- S/MIME certificates ------------------------------------------------------------------------------------------

test('certs import of a PEM certificate, a .p7b with two and a DER .crt: named, listed, audited without the certificate', async (t) => {
  const d = makeGatewayDir();
  const empty = await phigate(['certs', 'list', '--config', d.configFile]);
  t.is(empty.code, 0, empty.stderr);
  t.is(empty.stdout, 'no certificates\n');

  const patFp = sha256Of(pat.certFile);
  const orgFp = sha256Of(org.certFile);
  const notAfter = (f: string) => new Date(openssl(['x509', '-in', f, '-noout', '-enddate'], ca.dir).toString().trim().replace('notAfter=', '')).toISOString();

  const pem = await phigate(['certs', 'import', pat.certFile, '--config', d.configFile]);
  t.is(pem.code, 0, pem.stderr);
  t.is(pem.stderr, '');
  t.is(pem.stdout, `imported ${patFp} for pat@example.org (valid until ${notAfter(pat.certFile)})\n`);
  let listed = await certsJson(d, true);
  t.deepEqual(listed.map((c) => [c.fingerprint, c.emails, c.subject]), [[patFp, ['pat@example.org'], 'CN=pat, emailAddress=Pat@Example.org']]);

  // a .p7b (certs-only PKCS#7, DER) holding pat and org: both imported, both listed
  const d2 = makeGatewayDir();
  const p7b = writeTemp(files, 'bundle.p7b', openssl(['crl2pkcs7', '-nocrl', '-certfile', pat.certFile, '-certfile', org.certFile, '-outform', 'DER'], ca.dir));
  const bundle = await phigate(['certs', 'import', p7b, '--config', d2.configFile]);
  t.is(bundle.code, 0, bundle.stderr);
  t.deepEqual(bundle.stdout.trimEnd().split('\n'), [
    `imported ${patFp} for pat@example.org (valid until ${notAfter(pat.certFile)})`,
    `imported ${orgFp} for archive@clinic.example (valid until ${notAfter(org.certFile)})`,
  ]);
  listed = await certsJson(d2);
  t.deepEqual(listed.map((c) => c.fingerprint).sort(), [patFp, orgFp].sort());
  const p7bEvents = await auditJson(d2.configFile, ['--event', 'certs-import']);
  t.deepEqual(p7bEvents.map((e) => [e.actor, e.details['fingerprint']]), [[ACTOR, patFp], [ACTOR, orgFp]]);

  // a DER .crt
  const der = writeTemp(files, 'archive.crt', openssl(['x509', '-in', org.certFile, '-outform', 'DER'], ca.dir));
  const derR = await phigate(['certs', 'import', der, '--config', d.configFile]);
  t.is(derR.code, 0, derR.stderr);
  t.is(derR.stdout, `imported ${orgFp} for archive@clinic.example (valid until ${notAfter(org.certFile)})\n`);
  listed = await certsJson(d);
  t.deepEqual(listed.map((c) => c.fingerprint).sort(), [patFp, orgFp].sort());

  // table
  const table = await phigate(['certs', 'list', '--config', d.configFile]);
  t.is(table.code, 0, table.stderr);
  const rows = table.stdout.trimEnd().split('\n');
  t.regex(rows[0]!, /^FINGERPRINT \(SHA-256\)\s+EMAILS\s+SUBJECT\s+VALID UNTIL$/);
  t.is(rows.length, 4);
  t.regex(table.stdout, new RegExp(`^${patFp}\\s+pat@example\\.org\\s+CN=pat, emailAddress=Pat@Example\\.org\\s+${notAfter(pat.certFile).slice(0, 10)}$`, 'm'));
  t.regex(table.stdout, new RegExp(`^${orgFp}\\s+archive@clinic\\.example\\s+`, 'm'));

  // audit: the admin, the fingerprint and addresses, never the certificate
  const events = await auditJson(d.configFile, ['--event', 'certs-import']);
  t.deepEqual(events.map((e) => [e.event, e.actor, e.details['fingerprint']]), [['certs-import', ACTOR, patFp], ['certs-import', ACTOR, orgFp]]);
  t.deepEqual(events[0]!.details['emails'], ['pat@example.org']);
  const all = JSON.stringify(await auditJson(d.configFile));
  t.false(all.includes('BEGIN CERTIFICATE'));
  t.false(all.includes(materialLine(pat.certPem)));
  t.false(all.includes(materialLine(org.certPem)));
});

test('certs import refuses expired, TLS-server, EC and non-certificates (a bundle with one bad one entirely): exit 1, one line, nothing stored', async (t) => {
  const d = makeGatewayDir();
  const old = issueSmimeCert(ca, 'old', 'old@example.org', { startDate: '20200101000000Z', endDate: '20200201000000Z' });
  const tls = issueCert(ca, 'www', { subject: '/CN=www.clinic.example', extensions: ['subjectAltName=DNS:www.clinic.example', 'extendedKeyUsage=serverAuth', 'keyUsage=keyEncipherment,digitalSignature'] });
  const ec = issueSmimeCert(ca, 'ec', 'ec@example.org', { newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] });
  const mixed = writeTemp(files, 'mixed.p7b', openssl(['crl2pkcs7', '-nocrl', '-certfile', pat.certFile, '-certfile', old.certFile, '-outform', 'DER'], ca.dir));
  const short = (f: string) => `${sha256Of(f).slice(0, 16)}...`;
  const missing = join(files, 'does-not-exist.pem');

  const cases: [string, string, string | RegExp][] = [
    ['expired', old.certFile, `phigate: certificate CN=old, emailAddress=old@example.org (${short(old.certFile)}) expired on 2020-02-01T00:00:00.000Z\n`],
    ['serverAuth', tls.certFile,
      `phigate: certificate CN=www.clinic.example (${short(tls.certFile)}) is not for email protection (its key usage or extended key usage does not allow encrypting mail)\n`],
    ['EC', ec.certFile, `phigate: certificate CN=ec, emailAddress=ec@example.org (${short(ec.certFile)}) does not have an RSA key; S/MIME encryption here needs RSA\n`],
    ['bundle with an expired one', mixed, `phigate: certificate CN=old, emailAddress=old@example.org (${short(old.certFile)}) expired on 2020-02-01T00:00:00.000Z\n`],
    ['text', writeTemp(files, 'notes.pem', 'this is not a certificate\n'), /^phigate: not a certificate \(PEM, DER or PKCS#7\): /],
    ['a private key', pat.keyFile, /^phigate: not a certificate \(PEM, DER or PKCS#7\): /],
    ['an OpenPGP key', writeTemp(files, 'pgp.asc', rsa.publicArmored), /^phigate: not a certificate \(PEM, DER or PKCS#7\): /],
    ['binary', writeTemp(files, 'random.der', Buffer.from([0x30, 0x82, 0xff, 0xff, 0x01, 0x02, 0x03])), /^phigate: not a certificate \(PEM, DER or PKCS#7\): /],
    ['missing', missing, `phigate: ${missing}: cannot read: ENOENT\n`],
  ];
  for (const [what, file, reason] of cases) {
    const r = await phigate(['certs', 'import', file, '--config', d.configFile]);
    t.is(r.code, 1, `${what}: ${r.stderr}`);
    t.is(r.stdout, '', what);
    t.regex(r.stderr, ONE_LINE_ERROR, what);
    if (typeof reason === 'string') t.is(r.stderr, reason, what);
    else t.regex(r.stderr, reason, what);
  }
  t.deepEqual(await certsJson(d), [], 'nothing stored, not even the good certificate of the mixed bundle');
  t.deepEqual(await auditJson(d.configFile, ['--event', 'certs-import']), [], 'nothing audited');
});

test('certs remove drops the certificate (also by the colon fingerprint openssl prints) and is audited; an unknown one is one line, exit 1', async (t) => {
  const d = makeGatewayDir();
  const p7b = writeTemp(files, 'rm-bundle.p7b', openssl(['crl2pkcs7', '-nocrl', '-certfile', pat.certFile, '-certfile', org.certFile], ca.dir));
  t.is((await phigate(['certs', 'import', p7b, '--config', d.configFile])).code, 0);
  const patFp = sha256Of(pat.certFile);
  const orgFp = sha256Of(org.certFile);

  const r = await phigate(['certs', 'remove', patFp, '--config', d.configFile]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `removed ${patFp}\n`);
  t.deepEqual((await certsJson(d)).map((c) => c.fingerprint), [orgFp]);

  const colons = openssl(['x509', '-in', org.certFile, '-noout', '-fingerprint', '-sha256'], ca.dir).toString().trim().replace(/^.*=/, '').toLowerCase();
  t.regex(colons, /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
  const r2 = await phigate(['certs', 'remove', colons, '--config', d.configFile]);
  t.is(r2.code, 0, r2.stderr);
  t.deepEqual(await certsJson(d), []);
  t.is((await phigate(['certs', 'list', '--config', d.configFile])).stdout, 'no certificates\n');

  const removed = await auditJson(d.configFile, ['--event', 'certs-remove']);
  t.deepEqual(removed.map((e) => [e.actor, e.details['fingerprint']]), [[ACTOR, patFp], [ACTOR, orgFp]]);

  const again = await phigate(['certs', 'remove', patFp, '--config', d.configFile]);
  t.is(again.code, 1);
  t.is(again.stdout, '');
  t.regex(again.stderr, ONE_LINE_ERROR);
  t.is(again.stderr, `phigate: no certificate ${patFp} (see: phigate certs list)\n`);
  t.is((await auditJson(d.configFile, ['--event', 'certs-remove'])).length, 2, 'a failed remove is not audited');
});

// ---- lookups at send time -----------------------------------------------------------------------------------------

function tempStore(t: import('ava').ExecutionContext): Store {
  const store = openStore(mkdtempSync(join(tmpdir(), 'phigate-keystore-')));
  t.teardown(() => store.close());
  return store;
}

test('pgpKeyFor: the imported key for its address in any case, null for another; a key expired by now is not used', async (t) => {
  const store = tempStore(t);
  t.is(await pgpKeyFor(store, 'pat.doe@example.org'), null, 'nothing before the import');
  await importPgpKey(store, rsa.publicArmored);
  t.is(await pgpKeyFor(store, 'pat.doe@example.org'), rsa.publicArmored);
  t.is(await pgpKeyFor(store, 'PAT.Doe@EXAMPLE.org'), rsa.publicArmored);
  t.is(await pgpKeyFor(store, 'eve@example.net'), null);
  t.is(await pgpKeyFor(store, 'doe@example.org'), null, 'no partial match');

  // imported while it was valid (January 2020), expired the next day: not used now, used then
  const old = makeGpgKey(home, 'Former <former@example.org>', { algo: 'rsa2048', encryptSubkey: 'rsa2048', expire: '1d', fakedTime: '20200101T000000' });
  const then = new Date('2020-01-01T12:00:00Z');
  const info = await importPgpKey(store, old.publicArmored, then);
  t.is(info.fingerprint, old.fingerprint);
  t.is(await pgpKeyFor(store, 'former@example.org', then), old.publicArmored);
  t.is(await pgpKeyFor(store, 'former@example.org', new Date()), null);
  t.is(await pgpKeyFor(store, 'former@example.org'), null);
});

test('smimeCertFor: the imported certificate for its address in any case, null for another; one expired by now is not used', async (t) => {
  const store = tempStore(t);
  t.is(smimeCertFor(store, 'pat@example.org'), null, 'nothing before the import');
  await importCerts(store, Buffer.from(pat.certPem));
  const patPem = certPems(pat.certPem)[0]!;
  t.is(smimeCertFor(store, 'pat@example.org'), patPem);
  t.is(smimeCertFor(store, 'PAT@Example.ORG'), patPem);
  t.is(smimeCertFor(store, 'archive@clinic.example'), null);
  t.is(smimeCertFor(store, 'at@example.org'), null, 'no partial match');

  const old = issueSmimeCert(ca, 'former', 'former@example.org', { startDate: '20200101000000Z', endDate: '20200201000000Z' });
  const then = new Date('2020-01-15T00:00:00Z');
  await importCerts(store, Buffer.from(old.certPem), then);
  t.is(smimeCertFor(store, 'former@example.org', then), certPems(old.certPem)[0]!);
  t.is(smimeCertFor(store, 'former@example.org', new Date()), null);
  t.is(smimeCertFor(store, 'former@example.org', new Date('2019-12-31T00:00:00Z')), null, 'not yet valid');
});
