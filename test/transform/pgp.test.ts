// PGP/MIME checked with real GnuPG: keys made by gpg, messages decrypted by gpg.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { simpleParser } from 'mailparser';
import { pgpMimeEncrypt, readPublicKeyInfo } from '../../src/transform/pgp.js';
import { NEUTRAL_SUBJECT, protectedEntity } from '../../src/transform/mime-entity.js';
import {
  ALL_BYTES, SAMPLE_SUBJECT, closeGpgHome, gpg, gpgDecrypt, gpgHome, header, makeGpgKey, multipartParts, revokeGpgKey, sampleMessage, splitPart,
  type GpgHome, type GpgKey,
} from '../helpers/crypto-keys.js';

// One home per key, so that a successful decryption proves which secret key was used.
const homes: GpgHome[] = [];
const home = () => { const h = gpgHome(); homes.push(h); return h; };

let patHome: GpgHome, pat: GpgKey; // rsa2048 primary + rsa2048 encryption subkey
let eveHome: GpgHome, eve: GpgKey; // futuredefault: ed25519 + cv25519
let orgHome: GpgHome, org: GpgKey; // the organisation key
let strangerHome: GpgHome;
let keyHome: GpgHome; // keys for readPublicKeyInfo only

test.before(() => {
  patHome = home();
  pat = makeGpgKey(patHome, 'Pat <Pat@Example.org>', { algo: 'rsa2048', encryptSubkey: 'rsa2048' });
  eveHome = home();
  eve = makeGpgKey(eveHome, 'Eve <eve@example.org>', { algo: 'futuredefault' });
  orgHome = home();
  org = makeGpgKey(orgHome, 'Clinic archive <archive@clinic.example>', { algo: 'futuredefault' });
  strangerHome = home();
  makeGpgKey(strangerHome, 'Stranger <stranger@example.net>', { algo: 'futuredefault' });
  keyHome = home();
});

test.after.always(() => {
  for (const h of homes) closeGpgHome(h);
});

/** The RFC 3156 structure of `msg`; returns the armored part 2. */
function checkPgpMime(t: import('ava').ExecutionContext, msg: Buffer, subject = NEUTRAL_SUBJECT): string {
  t.false(/(?<!\r)\n/.test(msg.toString('latin1')), 'CRLF line ends only');
  const top = splitPart(msg);
  t.is(header(top, 'subject'), subject);
  t.is(header(top, 'mime-version'), '1.0');
  t.is(top.headers.filter(([n]) => n === 'content-type').length, 1);
  const ct = header(top, 'content-type') ?? '';
  t.regex(ct, /^multipart\/encrypted; protocol="application\/pgp-encrypted"; boundary="[^"]+"$/);
  const boundary = /boundary="([^"]+)"/.exec(ct)![1]!;
  const parts = multipartParts(top.body, boundary).map(splitPart);
  t.is(parts.length, 2);
  t.is(header(parts[0]!, 'content-type'), 'application/pgp-encrypted');
  t.is(header(parts[0]!, 'content-description'), 'PGP/MIME version identification');
  t.regex(parts[0]!.body.toString(), /^Version: 1(\r\n)?$/);
  t.is(header(parts[1]!, 'content-type'), 'application/octet-stream; name="encrypted.asc"');
  t.is(header(parts[1]!, 'content-disposition'), 'inline; filename="encrypted.asc"');
  const armor = parts[1]!.body.toString('latin1');
  t.regex(armor, /^-----BEGIN PGP MESSAGE-----\r\n[\s\S]+\r\n-----END PGP MESSAGE-----$/);
  return armor;
}

test('an RSA recipient: gpg decrypts the inner entity byte for byte, with the real subject inside and a neutral one outside', async (t) => {
  const original = sampleMessage();
  const msg = await pgpMimeEncrypt(original, [pat.publicArmored]);
  const armor = checkPgpMime(t, msg);
  // Nothing of the real subject is visible, in any encoding.
  t.false(msg.includes('Befund'));
  t.false(msg.includes('=?UTF-8?Q?Befund'));
  // The headers that routing needs stay outside.
  const top = splitPart(msg);
  t.is(header(top, 'to'), 'Pat <pat@example.org>');
  t.regex(header(top, 'received') ?? '', /by gw\.clinic\.example/);
  const recovered = gpgDecrypt(patHome, armor);
  t.deepEqual(recovered, protectedEntity(original));
  const parsed = await simpleParser(recovered);
  t.is(parsed.subject, SAMPLE_SUBJECT);
  t.deepEqual(parsed.attachments[0]?.content, ALL_BYTES);
  // gpg saw binary data, not text: the literal data packet is 'b'.
  const packets = gpg(patHome, ['--list-packets'], armor).toString();
  t.regex(packets, /literal data packet:\s*\n\s*mode b/);
});

test('a cv25519 recipient and a bare-LF message: gpg recovers the entity in CRLF form', async (t) => {
  const original = sampleMessage({ lf: true });
  const msg = await pgpMimeEncrypt(original, [eve.publicArmored], { subject: 'Secure message from your clinic' });
  const armor = checkPgpMime(t, msg, 'Secure message from your clinic');
  const recovered = gpgDecrypt(eveHome, armor);
  t.deepEqual(recovered, protectedEntity(original));
  t.deepEqual(recovered, protectedEntity(sampleMessage()));
  const parsed = await simpleParser(recovered);
  t.deepEqual(parsed.attachments[0]?.content, ALL_BYTES);
});

test('a recipient and the organisation key: each decrypts alone, a third key does not', async (t) => {
  const original = sampleMessage();
  const armor = checkPgpMime(t, await pgpMimeEncrypt(original, [pat.publicArmored, org.publicArmored]));
  t.deepEqual(gpgDecrypt(patHome, armor), protectedEntity(original));
  t.deepEqual(gpgDecrypt(orgHome, armor), protectedEntity(original));
  t.throws(() => gpgDecrypt(strangerHome, armor));
  // Two session-key packets, one per key (gpg lists them, then fails for want of a secret key).
  const listing = spawnSync('gpg', ['--batch', '--list-packets'], { input: armor, env: { ...process.env, GNUPGHOME: strangerHome.home } });
  t.is(listing.stdout.toString().match(/pubkey enc packet/g)?.length, 2);
});

test('pgpMimeEncrypt refuses an empty key list and text that is not a key', async (t) => {
  await t.throwsAsync(pgpMimeEncrypt(sampleMessage(), []), { message: /at least one recipient key/ });
  await t.throwsAsync(pgpMimeEncrypt(sampleMessage(), ['not a key']), { message: /recipient key 1 is not an armored OpenPGP key/ });
  const signOnly = makeGpgKey(keyHome, 'Signer only <signer@example.org>', { algo: 'ed25519', usage: 'sign' });
  await t.throwsAsync(pgpMimeEncrypt(sampleMessage(), [signOnly.publicArmored]));
});

test('readPublicKeyInfo of usable RSA and cv25519 keys', async (t) => {
  const now = new Date();
  const rsa = await readPublicKeyInfo(pat.publicArmored, now);
  t.is(rsa.fingerprint, pat.fingerprint);
  t.regex(rsa.fingerprint, /^[0-9A-F]{40}$/);
  t.deepEqual(rsa.userIds, ['Pat <Pat@Example.org>']);
  t.deepEqual(rsa.emails, ['pat@example.org']);
  t.true(rsa.canEncrypt);
  t.false(rsa.revoked);
  t.false(rsa.expired);
  t.is(rsa.expires, null);
  t.is(rsa.algorithm, 'rsaEncryptSign 2048');
  t.is(rsa.problem, null);
  t.true(Math.abs(Date.parse(rsa.created) - now.getTime()) < 10 * 60_000);
  const ecc = await readPublicKeyInfo(eve.publicArmored, now);
  t.is(ecc.fingerprint, eve.fingerprint);
  t.true(ecc.canEncrypt);
  t.regex(ecc.algorithm, /ed25519/i);
});

test('readPublicKeyInfo: a key made by plain `--quick-gen-key rsa2048 default` has no encryption key', async (t) => {
  const k = makeGpgKey(keyHome, 'Primary only <primary@example.org>', { algo: 'rsa2048' });
  const info = await readPublicKeyInfo(k.publicArmored, new Date());
  t.false(info.canEncrypt);
  t.regex(info.problem ?? '', /no usable encryption subkey/);
});

test('readPublicKeyInfo: a signing-only ed25519 key cannot encrypt', async (t) => {
  const k = makeGpgKey(keyHome, 'Sign only <sign@example.org>', { algo: 'ed25519', usage: 'sign' });
  const info = await readPublicKeyInfo(k.publicArmored, new Date());
  t.false(info.canEncrypt);
  t.false(info.revoked);
  t.false(info.expired);
  t.regex(info.problem ?? '', /encryption/);
});

test('readPublicKeyInfo: a key that expired in 2020 is expired now, and was usable before it expired', async (t) => {
  const k = makeGpgKey(keyHome, 'Old <old@example.org>', { algo: 'rsa2048', encryptSubkey: 'rsa2048', expire: '1d', fakedTime: '20200101T000000' });
  const info = await readPublicKeyInfo(k.publicArmored, new Date());
  t.is(info.created, '2020-01-01T00:00:00.000Z');
  t.is(info.expires, '2020-01-02T00:00:00.000Z');
  t.true(info.expired);
  t.false(info.canEncrypt);
  t.is(info.problem, 'the key expired on 2020-01-02T00:00:00.000Z');
  const then = await readPublicKeyInfo(k.publicArmored, new Date('2020-01-01T12:00:00Z'));
  t.false(then.expired);
  t.true(then.canEncrypt);
  t.is(then.problem, null);
  await t.throwsAsync(pgpMimeEncrypt(sampleMessage(), [k.publicArmored]));
});

test('readPublicKeyInfo: a key whose revocation certificate gpg imported is revoked and cannot encrypt', async (t) => {
  const k = makeGpgKey(keyHome, 'Revoked <revoked@example.org>', { algo: 'futuredefault' });
  t.true((await readPublicKeyInfo(k.publicArmored, new Date())).canEncrypt);
  const revoked = await readPublicKeyInfo(revokeGpgKey(keyHome, k.fingerprint), new Date());
  t.true(revoked.revoked);
  t.false(revoked.canEncrypt);
  t.is(revoked.problem, 'the key is revoked');
});

test('readPublicKeyInfo refuses a private key, two keys at once and garbage', async (t) => {
  const secret = gpg(patHome, ['--armor', '--export-secret-keys', pat.fingerprint]).toString();
  await t.throwsAsync(readPublicKeyInfo(secret, new Date()), { message: /private key/ });
  const both = gpgHome();
  homes.push(both);
  gpg(both, ['--import'], pat.publicArmored + eve.publicArmored);
  const twoKeys = gpg(both, ['--armor', '--export', pat.fingerprint, eve.fingerprint]).toString();
  await t.throwsAsync(readPublicKeyInfo(twoKeys, new Date()), { message: /holds 2 keys/ });
  await t.throwsAsync(readPublicKeyInfo('hello', new Date()), { message: /not an armored OpenPGP key/ });
});
