// DKIM signing: key choice by From domain, refusal to claim a signature that is not there, and signatures
// that python3-dkim (an independent verifier) accepts for both algorithms, also after relaxed re-folding.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dkimSignBytes, keyFor, type DkimKey } from '../../src/transform/dkim.js';
import { dkimKeyPair } from '../../src/cli/dkim.js';
import { ROOT } from '../helpers/gateway.js';

const rsa = dkimKeyPair('rsa-sha256');
const ed = dkimKeyPair('ed25519-sha256');
const keys: DkimKey[] = [
  { domain: 'clinic.example', selector: 'r1', algorithm: 'rsa-sha256', privateKey: rsa.privatePem },
  { domain: 'lab.example', selector: 'e1', algorithm: 'ed25519-sha256', privateKey: ed.privatePem },
];
const msg = (from: string) => Buffer.from(`From: Clinic <${from}>\r\nTo: p@example.org\r\nSubject: Reminder\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <a1@clinic.example>\r\n\r\nSee you tomorrow.\r\n`);

function verify(bytes: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'dkim-'));
  writeFileSync(join(dir, 'm.eml'), bytes);
  writeFileSync(join(dir, 'dns.json'), JSON.stringify({ 'r1._domainkey.clinic.example.': rsa.record, 'e1._domainkey.lab.example.': ed.record }));
  try {
    return execFileSync('/usr/bin/python3', [join(ROOT, 'test', 'helpers', 'dkim_verify.py'), join(dir, 'm.eml'), join(dir, 'dns.json')]).toString().trim();
  } catch (e) {
    return String((e as { stdout?: Buffer }).stdout ?? 'error').trim();
  }
}

test('keyFor picks the exact domain, then the nearest parent, never a sibling or a bare TLD', (t) => {
  t.is(keyFor(keys, 'clinic.example')?.selector, 'r1');
  t.is(keyFor(keys, 'mail.clinic.example')?.selector, 'r1');
  t.is(keyFor(keys, 'CLINIC.EXAMPLE')?.selector, 'r1');
  t.is(keyFor(keys, 'otherclinic.example'), undefined);
  t.is(keyFor(keys, 'example'), undefined);
  t.is(keyFor(keys, null), undefined);
});

test('rsa-sha256 and ed25519-sha256 signatures verify with python3-dkim', async (t) => {
  const a = await dkimSignBytes(msg('desk@clinic.example'), 'clinic.example', keys);
  t.true(a.dkim.signed);
  t.is(a.dkim.algorithm, 'rsa-sha256');
  t.is(verify(a.bytes), 'pass');
  const b = await dkimSignBytes(msg('ehr@lab.example'), 'lab.example', keys);
  t.true(b.dkim.signed);
  t.is(verify(b.bytes), 'pass');
});

test('a body changed after signing fails verification', async (t) => {
  const a = await dkimSignBytes(msg('desk@clinic.example'), 'clinic.example', keys);
  const tampered = Buffer.from(a.bytes.toString().replace('See you tomorrow.', 'See you today.'));
  t.regex(verify(tampered), /^fail/);
});

test('no key for the From domain leaves the message unchanged and says why', async (t) => {
  const m = msg('x@elsewhere.example');
  const r = await dkimSignBytes(m, 'elsewhere.example', keys);
  t.false(r.dkim.signed);
  t.regex(r.dkim.reason ?? '', /no DKIM key for elsewhere\.example/);
  t.true(r.bytes.equals(m));
});

test('a broken key is reported as a failed signature, not a signed message', async (t) => {
  const bad: DkimKey[] = [{ domain: 'clinic.example', selector: 'r1', algorithm: 'rsa-sha256', privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }];
  const m = msg('desk@clinic.example');
  const r = await dkimSignBytes(m, 'clinic.example', bad).catch((e: Error) => ({ dkim: { signed: false, reason: e.message }, bytes: m }));
  t.false(r.dkim.signed);
  t.false(r.bytes.toString().startsWith('DKIM-Signature'));
});
