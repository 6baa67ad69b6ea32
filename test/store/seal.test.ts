// Encryption at rest: sealed records open with the keyring and only with it; any altered byte is refused; a
// rotation re-wraps the data key without touching the content; the data directory of a gateway that took a
// message holds no byte of it in clear; the CLI's rotate and prune keep a running gateway working.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seal, unseal, rewrap, masterKeyFrom, keyringOf, sealedKeyId } from '../../src/seal.js';
import { readKeyring } from '../../src/master-key.js';
import { makeGatewayDir, startTestGateway } from '../helpers/gateway.js';
import { startSink } from '../helpers/sink.js';
import { swaks } from '../helpers/swaks.js';
import { phigate } from '../cli/kit.js';
import { queryAudit } from '../../src/audit/query.js';

const k1 = masterKeyFrom(randomBytes(32));
const k2 = masterKeyFrom(randomBytes(32));

test('seal/unseal round trip; every altered byte and a foreign key are refused', (t) => {
  const ring = keyringOf(k1);
  const plain = Buffer.from('Dear Maria, your MRN 00482193 results are ready.');
  const sealed = seal(plain, ring);
  t.false(sealed.includes(plain.subarray(0, 10)), 'no plain text in the record');
  t.deepEqual(unseal(sealed, ring), plain);
  t.notDeepEqual(seal(plain, ring), sealed, 'a fresh data key and IV every time');
  for (const at of [4, 12, 30, 70, 90, sealed.length - 1]) {
    const bad = Buffer.from(sealed);
    bad[at]! ^= 0x01;
    t.throws(() => unseal(bad, ring), { message: /does not authenticate|not in the keyring|not sealed/ }, `byte ${at}`);
  }
  t.throws(() => unseal(sealed, keyringOf(k2)), { message: /not in the keyring/ });
  t.throws(() => unseal(plain, ring), { message: /not sealed/ });
});

test('rewrap moves the data key to the current master key and leaves the ciphertext as it was', (t) => {
  const sealed = seal(Buffer.from('lab results'), keyringOf(k1));
  const ring = keyringOf(k2, [k1]);
  const moved = rewrap(sealed, ring);
  t.is(sealedKeyId(moved), k2.id.toString('hex'));
  t.deepEqual(moved.subarray(4 + 8 + 60), sealed.subarray(4 + 8 + 60), 'IV, tag and ciphertext untouched');
  t.deepEqual(unseal(moved, keyringOf(k2)).toString(), 'lab results', 'readable with the new key alone');
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => { const p = join(dir, n); return statSync(p).isDirectory() ? filesUnder(p) : [p]; });
}

test('a queued message is not readable from the data directory; rotate and prune while the gateway runs, and it still delivers', async (t) => {
  const sink = await startSink();
  t.teardown(() => sink.close());
  // deferred first (nothing listens on port 1), so the message stays in the spool
  const d = makeGatewayDir({ outbound: { routes: { 'example.org': '127.0.0.1:1' }, tls: { '*': 'none' }, caFile: null, retry: { schedule: ['1h'], maxAge: '2h' }, connectTimeout: '2s' } });
  const gw = await startTestGateway(d, undefined, 200);
  t.teardown(() => gw.stop());
  const marker = `Unmistakable-${randomBytes(6).toString('hex')}`;
  const r = await swaks(['--server', '127.0.0.1', '--port', String(gw.listeners.addresses['relay']!.port), '--from', 'ehr@clinic.example', '--to', 'p@example.org', '--header', `Subject: ${marker}`, '--body', `${marker} body`]);
  t.is(r.code, 0, r.out);
  const qid = /queued as ([0-9A-Z]{20})/.exec(r.out)![1]!;
  for (let end = Date.now() + 10_000; !queryAudit(gw.store, { queueId: qid, event: 'deferred' }).length && Date.now() < end;) await new Promise((res) => setTimeout(res, 50));
  const keyFile = d.config['portal'].masterKey as string;
  t.is(statSync(keyFile).mode & 0o777, 0o600, 'the key file is 0600');
  // read by another process: opening and closing LMDB's files here would drop this process's fcntl locks on them
  t.true(filesUnder(d.config['dataDir']).length >= 2);
  const grep = spawnSync('grep', ['-rlF', marker, d.config['dataDir']]);
  t.is(grep.status, 1, `no file of the data directory holds clear text of the message: ${grep.stdout}`);
  t.true(gw.store.messages.get(qid)!.toString().includes(marker), 'the gateway reads it with the key');
  const oldRing = readKeyring(keyFile);
  const before = oldRing.current.id.toString('hex');

  const rot = await phigate(['master-key', 'rotate', '--config', d.configFile]);
  t.is(rot.code, 0, rot.stderr);
  t.regex(rot.stdout, /[1-9]\d* stored record\(s\) re-wrapped/);
  const after = readKeyring(keyFile).current.id.toString('hex');
  t.not(after, before);
  t.is(sealedKeyId(gw.store.messages.getSealed(qid)!), after, 'the queued message is wrapped by the new key');
  const status = await phigate(['master-key', 'status', '--config', d.configFile]);
  t.regex(status.stdout, new RegExp(`${before}\\s+retired\\s+0`));
  const prune = await phigate(['master-key', 'prune', '--config', d.configFile]);
  t.is(prune.code, 0, prune.stderr);
  t.regex(prune.stdout, /dropped 1 retired key/);

  t.throws(() => unseal(gw.store.messages.getSealed(qid)!, oldRing), { message: /not in the keyring/ }, 'the old key alone no longer opens it');
  t.is(readKeyring(keyFile).all.length, 1, 'pruned: only the new key is left');
  // the running gateway delivers the queued message, now readable only with the new key
  writeRoute(d.configFile, sink.port);
  gw.reload();
  const retry = await phigate(['queue', 'retry', qid, '--config', d.configFile]);
  t.is(retry.code, 0, retry.stderr);
  const [m] = await sink.waitFor(1, 15_000);
  t.true(m!.bytes.toString().includes(`${marker} body`));
  t.true(queryAudit(gw.store, { event: 'admin' }).some((e) => e.details['action'] === 'master-key-rotate'));
});

function writeRoute(configFile: string, port: number): void {
  writeFileSync(configFile, readFileSync(configFile, 'utf8').replace('127.0.0.1:1', `127.0.0.1:${port}`));
}
