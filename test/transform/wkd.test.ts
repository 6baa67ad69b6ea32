// Web Key Directory: the z-base-32 hash of the draft's example, the two URLs, a key served over real HTTPS (test CA)
// found for its address, and every way of finding nothing (not published, another address's key, a signing-only
// key, garbage, an unreachable host) giving no key rather than an error; the store's cache.
import test from 'ava';
import https from 'node:https';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zbase32, wkdLocations, wkdLookup, httpsWkdGetter, type WkdGet } from '../../src/transform/wkd.js';
import { wkdKeyFor } from '../../src/transform/keystore.js';
import { openStore } from '../../src/store.js';
import { makeTestCa } from '../helpers/ca.js';
import { gpgHome, gpg, makeGpgKey, closeGpgHome } from '../helpers/crypto-keys.js';
import { createHash } from 'node:crypto';

const home = gpgHome();
test.after.always(() => closeGpgHome(home));
const pat = makeGpgKey(home, 'Pat <pat@example.org>', { algo: 'futuredefault' });
const other = makeGpgKey(home, 'Other <other@example.org>', { algo: 'futuredefault' });
const signOnly = makeGpgKey(home, 'Signer <signer@example.org>', { algo: 'ed25519', usage: 'sign' });
const binary = (fp: string) => gpg(home, ['--export', fp]);

test('z-base-32 of SHA-1 of the local part, as in the draft\'s example (Joe.Doe@Example.ORG)', (t) => {
  t.is(zbase32(createHash('sha1').update('joe.doe').digest()), 'iy9q119eutrkn8s1mk4r39qejnbu3n5q');
  t.deepEqual(wkdLocations('Joe.Doe@Example.ORG'), [
    { host: 'openpgpkey.example.org', path: '/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe' },
    { host: 'example.org', path: '/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe' },
  ]);
});

function getter(map: Record<string, Buffer | Error>, asked: string[] = []): WkdGet {
  return async (host, path) => {
    asked.push(`${host}${path.split('?')[0]}`);
    const v = map[host];
    if (v instanceof Error) throw v;
    return v ?? null;
  };
}

test('advanced method first, direct when the advanced host has nothing; the key must name the address and encrypt', async (t) => {
  const now = new Date();
  const asked: string[] = [];
  const adv = await wkdLookup('pat@example.org', getter({ 'openpgpkey.example.org': binary(pat.fingerprint) }, asked), now);
  t.truthy(adv);
  t.regex(adv!, /BEGIN PGP PUBLIC KEY BLOCK/);
  t.is(asked.length, 1);
  const direct = await wkdLookup('pat@example.org', getter({ 'openpgpkey.example.org': new Error('ENOTFOUND'), 'example.org': binary(pat.fingerprint) }), now);
  t.truthy(direct);
  t.is(await wkdLookup('pat@example.org', getter({ 'openpgpkey.example.org': binary(other.fingerprint) }), now), null, 'a key for another address');
  t.is(await wkdLookup('signer@example.org', getter({ 'openpgpkey.example.org': binary(signOnly.fingerprint) }), now), null, 'a signing-only key');
  t.is(await wkdLookup('pat@example.org', getter({ 'openpgpkey.example.org': Buffer.from('<html>not found</html>') }), now), null, 'garbage');
  t.is(await wkdLookup('pat@example.org', getter({}), now), null, 'nothing published');
});

test('the HTTPS getter against a real server: verified certificate, 200 gives the body, 404 none, an untrusted CA fails', async (t) => {
  const ca = makeTestCa(['openpgpkey.example.org']);
  const key = binary(pat.fingerprint);
  const server = https.createServer({ key: ca.serverKey, cert: ca.serverCert }, (req, res) => {
    if (req.url?.startsWith('/.well-known/openpgpkey/example.org/hu/')) { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.end(key); return; }
    res.writeHead(404); res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const lookup = async () => '127.0.0.1';
  const found = await wkdLookup('pat@example.org', httpsWkdGetter({ ca: ca.caCert, port, lookup }), new Date());
  t.truthy(found);
  t.is(await httpsWkdGetter({ ca: ca.caCert, port, lookup })('openpgpkey.example.org', '/nothing'), null);
  await t.throwsAsync(httpsWkdGetter({ port, lookup })('openpgpkey.example.org', '/.well-known/openpgpkey/example.org/hu/x'));
  t.is(await wkdLookup('pat@example.org', httpsWkdGetter({ port, lookup }), new Date()), null, 'an untrusted certificate is no key, not an error');
});

test('the store caches a key for a day and "no key" for an hour', async (t) => {
  const store = openStore(mkdtempSync(join(tmpdir(), 'phigate-wkd-')));
  t.teardown(() => store.close());
  let calls = 0;
  const found = async () => { calls++; return (await wkdLookup('pat@example.org', getter({ 'openpgpkey.example.org': binary(pat.fingerprint) }), new Date()))!; };
  const t0 = new Date('2026-11-29T10:00:00Z');
  t.truthy(await wkdKeyFor(store, 'Pat@example.org', found, t0));
  t.truthy(await wkdKeyFor(store, 'pat@example.org', found, new Date(t0.getTime() + 23 * 3600_000)));
  t.is(calls, 1);
  await wkdKeyFor(store, 'pat@example.org', found, new Date(t0.getTime() + 25 * 3600_000));
  t.is(calls, 2);
  let misses = 0;
  const none = async () => { misses++; return null; };
  t.is(await wkdKeyFor(store, 'nobody@example.org', none, t0), null);
  t.is(await wkdKeyFor(store, 'nobody@example.org', none, new Date(t0.getTime() + 59 * 60_000)), null);
  t.is(misses, 1);
  await wkdKeyFor(store, 'nobody@example.org', none, new Date(t0.getTime() + 61 * 60_000));
  t.is(misses, 2);
});
