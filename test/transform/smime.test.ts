// S/MIME checked with the real openssl CLI: certificates issued by a test CA with `openssl ca`, messages decrypted
// and signatures verified by `openssl cms`.
import test from 'ava';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { NEUTRAL_SUBJECT, protectedEntity } from '../../src/transform/mime-entity.js';
import { readCertInfo, smimeEncrypt } from '../../src/transform/smime.js';
import {
  ALL_BYTES, SAMPLE_SUBJECT, header, issueCert, issueSmimeCert, makeSmimeCa, multipartParts, openssl, sampleMessage, splitPart, writeTemp,
  type IssuedCert, type SmimeCa,
} from '../helpers/crypto-keys.js';

let ca: SmimeCa;
let pat: IssuedCert;
let org: IssuedCert;
let signer: IssuedCert;
let n = 0;
const tmp = (bytes: Buffer | string) => writeTemp(ca.dir, `t${++n}.eml`, bytes);

test.before(() => {
  ca = makeSmimeCa();
  pat = issueSmimeCert(ca, 'pat', 'Pat@Example.org');
  org = issueSmimeCert(ca, 'archive', 'archive@clinic.example');
  signer = issueCert(ca, 'ana', {
    subject: '/CN=Dr. Ana Lopez/emailAddress=ana@clinic.example',
    extensions: ['subjectAltName=email:ana@clinic.example', 'extendedKeyUsage=emailProtection', 'keyUsage=digitalSignature,nonRepudiation'],
  });
});

test.after.always(() => rmSync(ca.dir, { recursive: true, force: true }));

const decrypt = (msg: Buffer, who: IssuedCert) => openssl(['cms', '-decrypt', '-in', tmp(msg), '-recip', who.certFile, '-inkey', who.keyFile], ca.dir);

function checkEnveloped(t: import('ava').ExecutionContext, msg: Buffer): Buffer {
  t.false(/(?<!\r)\n/.test(msg.toString('latin1')), 'CRLF line ends only');
  const top = splitPart(msg);
  t.is(header(top, 'subject'), NEUTRAL_SUBJECT);
  t.is(header(top, 'mime-version'), '1.0');
  t.is(header(top, 'content-type'), 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"');
  t.is(header(top, 'content-transfer-encoding'), 'base64');
  t.is(header(top, 'content-disposition'), 'attachment; filename="smime.p7m"');
  const lines = top.body.toString('latin1').split('\r\n').filter((l) => l !== '');
  t.true(lines.every((l) => /^[A-Za-z0-9+/=]{1,76}$/.test(l)));
  t.true(lines.slice(0, -1).every((l) => l.length === 76));
  return Buffer.from(lines.join(''), 'base64');
}

test('EnvelopedData to an RSA certificate: openssl cms -decrypt recovers the protected entity byte for byte', async (t) => {
  const original = sampleMessage();
  const msg = smimeEncrypt(original, [pat.certPem]);
  const der = checkEnveloped(t, msg);
  t.false(msg.includes('Befund'));
  t.is(header(splitPart(msg), 'to'), 'Pat <pat@example.org>');
  const recovered = decrypt(msg, pat);
  t.deepEqual(recovered, protectedEntity(original));
  const parsed = await simpleParser(recovered);
  t.is(parsed.subject, SAMPLE_SUBJECT);
  t.deepEqual(parsed.attachments[0]?.content, ALL_BYTES);
  // AES-256-CBC content encryption, RSA PKCS#1 v1.5 key transport, as openssl reads the structure.
  const printed = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', tmp(der)], ca.dir).toString();
  t.regex(printed, /contentEncryptionAlgorithm:\s*\n\s*algorithm: aes-256-cbc/);
  t.regex(printed, /keyEncryptionAlgorithm:\s*\n\s*algorithm: rsaEncryption/);
});

test('a bare-LF message is encrypted in CRLF form', (t) => {
  const original = sampleMessage({ lf: true });
  const recovered = decrypt(smimeEncrypt(original, [pat.certPem], { subject: 'Secure message' }), pat);
  t.deepEqual(recovered, protectedEntity(sampleMessage()));
});

test('two recipients: each decrypts with its own key, and the custom subject is outside', (t) => {
  const original = sampleMessage();
  const msg = smimeEncrypt(original, [pat.certPem, org.certPem], { subject: 'Secure message' });
  t.is(header(splitPart(msg), 'subject'), 'Secure message');
  t.deepEqual(decrypt(msg, pat), protectedEntity(original));
  t.deepEqual(decrypt(msg, org), protectedEntity(original));
  t.throws(() => decrypt(msg, signer));
});

test('signed then encrypted: the decrypted multipart/signed verifies with openssl cms -verify and gives the protected entity', (t) => {
  const original = sampleMessage();
  const msg = smimeEncrypt(original, [pat.certPem], { sign: { certPem: signer.certPem, keyPem: signer.keyPem, chainPem: [ca.caCert] }, now: new Date('2026-11-29T18:00:00Z') });
  checkEnveloped(t, msg);
  const signed = decrypt(msg, pat);
  const part = splitPart(signed);
  const ct = header(part, 'content-type') ?? '';
  t.regex(ct, /^multipart\/signed; protocol="application\/pkcs7-signature"; micalg=sha-256; boundary="[^"]+"$/);
  const [content, sig] = multipartParts(part.body, /boundary="([^"]+)"/.exec(ct)![1]!);
  t.deepEqual(content, protectedEntity(original));
  const sigPart = splitPart(sig!);
  t.is(header(sigPart, 'content-type'), 'application/pkcs7-signature; name="smime.p7s"');
  const signedFile = tmp(signed);
  const verified = openssl(['cms', '-verify', '-in', signedFile, '-CAfile', ca.caCertFile, '-purpose', 'smimesign'], ca.dir);
  t.deepEqual(verified, protectedEntity(original));
  // The signer and the chain certificate travel in the signature; the signing time is the one given.
  const sigDer = tmp(Buffer.from(sigPart.body.toString('latin1').replace(/\s+/g, ''), 'base64'));
  t.is(openssl(['pkcs7', '-inform', 'DER', '-in', sigDer, '-print_certs', '-noout'], ca.dir).toString().match(/^subject=/gm)?.length, 2);
  t.regex(openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', sigDer], ca.dir).toString(), /UTCTIME:Nov 29 18:00:00 2026 GMT/);
  // One changed byte in the signed content and openssl refuses it.
  const tampered = Buffer.from(signed.toString('latin1').replace('anbei der Befund', 'anbei den Befund'), 'latin1');
  t.notDeepEqual(tampered, signed);
  t.throws(() => openssl(['cms', '-verify', '-in', tmp(tampered), '-CAfile', ca.caCertFile], ca.dir));
});

test('smimeEncrypt refuses no recipients and a certificate forge cannot use (EC)', (t) => {
  t.throws(() => smimeEncrypt(sampleMessage(), []), { message: /at least one recipient certificate/ });
  const ec = issueSmimeCert(ca, 'ec', 'ec@example.org', { newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] });
  t.throws(() => smimeEncrypt(sampleMessage(), [ec.certPem]), { message: /recipient certificate 1 cannot be used for S\/MIME/ });
  const info = readCertInfo(ec.certPem, new Date());
  t.false(info[0]!.rsa);
  t.true(info[0]!.emailProtection);
});

const sha256Of = (certFile: string) =>
  openssl(['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256'], ca.dir).toString().trim().replace(/^.*=/, '').replace(/:/g, '');

test('readCertInfo of a good S/MIME certificate', (t) => {
  const [info, ...rest] = readCertInfo(pat.certPem, new Date());
  t.is(rest.length, 0);
  t.is(info!.fingerprint, sha256Of(pat.certFile));
  t.is(info!.subject, 'CN=pat, emailAddress=Pat@Example.org');
  t.deepEqual(info!.emails, ['pat@example.org']);
  t.false(info!.expired);
  t.false(info!.notYetValid);
  t.true(info!.emailProtection);
  t.true(info!.rsa);
  const notAfter = openssl(['x509', '-in', pat.certFile, '-noout', '-enddate'], ca.dir).toString().trim().replace('notAfter=', '');
  t.is(info!.notAfter, new Date(notAfter).toISOString());
  // DER gives the same facts.
  const der = openssl(['x509', '-in', pat.certFile, '-outform', 'DER'], ca.dir);
  t.deepEqual(readCertInfo(der, new Date()), [info]);
});

test('readCertInfo: a certificate valid in January 2020 is expired now and not yet valid in 2019', (t) => {
  const old = issueSmimeCert(ca, 'old', 'old@example.org', { startDate: '20200101000000Z', endDate: '20200201000000Z' });
  const [now] = readCertInfo(old.certPem, new Date());
  t.is(now!.notBefore, '2020-01-01T00:00:00.000Z');
  t.is(now!.notAfter, '2020-02-01T00:00:00.000Z');
  t.true(now!.expired);
  t.false(now!.notYetValid);
  const [before] = readCertInfo(old.certPem, new Date('2019-06-01T00:00:00Z'));
  t.false(before!.expired);
  t.true(before!.notYetValid);
  const [during] = readCertInfo(old.certPem, new Date('2020-01-15T00:00:00Z'));
  t.false(during!.expired);
  t.false(during!.notYetValid);
});

test('readCertInfo: a TLS server certificate, and a certificate without keyEncipherment, are not for S/MIME encryption', (t) => {
  const tls = issueCert(ca, 'www', { subject: '/CN=www.clinic.example', extensions: ['subjectAltName=DNS:www.clinic.example', 'extendedKeyUsage=serverAuth', 'keyUsage=keyEncipherment,digitalSignature'] });
  const [tlsInfo] = readCertInfo(tls.certPem, new Date());
  t.false(tlsInfo!.emailProtection);
  t.deepEqual(tlsInfo!.emails, []);
  const [signOnly] = readCertInfo(signer.certPem, new Date());
  t.false(signOnly!.emailProtection);
  t.deepEqual(signOnly!.emails, ['ana@clinic.example']);
  const noExt = issueCert(ca, 'plain', { subject: '/CN=plain/emailAddress=plain@example.org', extensions: [] });
  const [plain] = readCertInfo(noExt.certPem, new Date());
  t.true(plain!.emailProtection);
  t.deepEqual(plain!.emails, ['plain@example.org']);
});

test('readCertInfo of a .p7b bundle (DER and PEM) and of a PEM bundle gives one info per certificate', (t) => {
  const p7bDer = openssl(['crl2pkcs7', '-nocrl', '-certfile', pat.certFile, '-certfile', org.certFile, '-outform', 'DER'], ca.dir);
  const infos = readCertInfo(p7bDer, new Date());
  t.deepEqual(infos.map((i) => i.fingerprint), [sha256Of(pat.certFile), sha256Of(org.certFile)]);
  t.deepEqual(infos.map((i) => i.emails[0]), ['pat@example.org', 'archive@clinic.example']);
  const p7bPem = openssl(['crl2pkcs7', '-nocrl', '-certfile', pat.certFile, '-certfile', org.certFile], ca.dir).toString();
  t.deepEqual(readCertInfo(p7bPem, new Date()), infos);
  const bundle = `${readFileSync(join(ca.dir, 'pat.crt'), 'utf8')}\n${org.certPem}`;
  t.deepEqual(readCertInfo(Buffer.from(bundle), new Date()), infos);
});

test('readCertInfo refuses text without a certificate and bytes that are not DER', (t) => {
  t.throws(() => readCertInfo('hello', new Date()), { message: /no PEM certificate/ });
  t.throws(() => readCertInfo(Buffer.from([0x30, 0x82, 0xff, 0xff, 0x01]), new Date()));
  t.throws(() => readCertInfo('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', new Date()), { message: /no certificate found/ });
});
