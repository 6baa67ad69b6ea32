// MTA-STS (RFC 8461): the policy parser, MX pattern matching, discovery with a cache (fake DNS and fetcher, in-memory
// cache, injected clock), the pure delivery decision, and the HTTPS fetcher against real local HTTPS servers with
// certificates from the openssl test CA. Only 127.0.0.1 is ever contacted.
import test, { type ExecutionContext } from 'ava';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  parsePolicy, mxMatches, policyFor, stsDecision, httpsPolicyFetcher,
  type CachedPolicy, type MtaStsDeps,
} from '../../src/deliver/mta-sts.js';
import { makeTestCa, type TestCa } from '../helpers/ca.js';

// ---------- parsePolicy ----------

test('parsePolicy: a valid enforce policy with CRLF lines and repeated mx', (t) => {
  const r = parsePolicy('version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET\r\nmax_age: 604800\r\n');
  t.is(r.error, undefined);
  t.deepEqual(r.policy, { version: 'STSv1', mode: 'enforce', mx: ['mail.example.com', '*.example.net'], maxAgeS: 604800 });
});

test('parsePolicy: a testing policy with LF lines, unknown keys ignored', (t) => {
  const r = parsePolicy('version: STSv1\nmode: testing\nmx: mx1.example.org\nfuture_key: whatever\nmax_age:86400\n');
  t.deepEqual(r.policy, { version: 'STSv1', mode: 'testing', mx: ['mx1.example.org'], maxAgeS: 86400 });
});

test('parsePolicy: mode none needs no mx; enforce and testing do', (t) => {
  t.deepEqual(parsePolicy('version: STSv1\nmode: none\nmax_age: 0\n').policy, { version: 'STSv1', mode: 'none', mx: [], maxAgeS: 0 });
  t.regex(parsePolicy('version: STSv1\nmode: enforce\nmax_age: 60\n').error ?? '', /no mx/);
  t.regex(parsePolicy('version: STSv1\nmode: testing\nmax_age: 60\n').error ?? '', /no mx/);
});

test('parsePolicy: version missing or wrong is an error', (t) => {
  t.regex(parsePolicy('mode: enforce\nmx: a.example.com\nmax_age: 60\n').error ?? '', /no version/);
  t.regex(parsePolicy('version: STSv2\nmode: enforce\nmx: a.example.com\nmax_age: 60\n').error ?? '', /not STSv1/);
  t.is(parsePolicy('version: STSv2\nmode: enforce\nmx: a.example.com\nmax_age: 60\n').policy, undefined);
});

test('parsePolicy: mode is required and must be one of three', (t) => {
  t.regex(parsePolicy('version: STSv1\nmx: a.example.com\nmax_age: 60\n').error ?? '', /no mode/);
  t.regex(parsePolicy('version: STSv1\nmode: strict\nmx: a.example.com\nmax_age: 60\n').error ?? '', /mode "strict"/);
});

test('parsePolicy: max_age is required and must be an integer 0..31557600', (t) => {
  const base = 'version: STSv1\nmode: enforce\nmx: a.example.com\n';
  t.regex(parsePolicy(base).error ?? '', /no max_age/);
  for (const bad of ['-1', '31557601', '1e5', 'soon', '', '12.5', '0x10']) {
    t.regex(parsePolicy(`${base}max_age: ${bad}\n`).error ?? '', /max_age/, `max_age ${bad}`);
  }
  t.is(parsePolicy(`${base}max_age: 31557600\n`).policy?.maxAgeS, 31557600);
});

test('parsePolicy: CRLF and LF give the same policy', (t) => {
  const lines = ['version: STSv1', 'mode: enforce', 'mx: mail.example.com', 'max_age: 3600'];
  const crlf = parsePolicy(lines.join('\r\n'));
  const lf = parsePolicy(lines.join('\n'));
  t.truthy(crlf.policy);
  t.deepEqual(crlf, lf);
  t.false(crlf.policy!.mx.some((m) => m.includes('\r')));
});

// ---------- mxMatches ----------

test('mxMatches: exact names, case-insensitive, trailing dot ignored', (t) => {
  t.true(mxMatches('mail.example.com', ['mail.example.com']));
  t.true(mxMatches('MAIL.Example.COM.', ['mail.example.com']));
  t.true(mxMatches('mail.example.com', ['Mail.Example.com.']));
  t.false(mxMatches('mail2.example.com', ['mail.example.com']));
  t.false(mxMatches('mail.example.com', []));
});

test('mxMatches: a wildcard matches exactly one leftmost label', (t) => {
  t.true(mxMatches('mx.example.com', ['*.example.com']));
  t.true(mxMatches('MX.EXAMPLE.COM.', ['*.example.com']));
  t.false(mxMatches('a.b.example.com', ['*.example.com']));
  t.false(mxMatches('example.com', ['*.example.com']));
  t.false(mxMatches('mx.badexample.com', ['*.example.com']));
  t.true(mxMatches('mx.example.net', ['*.example.com', 'mx.example.net']));
});

// ---------- stsDecision ----------

const cachedPolicy = (over: Partial<CachedPolicy> = {}): CachedPolicy =>
  ({ id: 'id1', mode: 'enforce', mx: ['*.example.com'], maxAgeS: 3600, fetchedAt: 0, ...over });

test('stsDecision: enforce allows only matching MX and requires verified TLS', (t) => {
  const d = stsDecision(cachedPolicy(), ['mx1.example.com', 'evil.example.org', 'mx2.example.com']);
  t.deepEqual(d, { mode: 'enforce', allowed: ['mx1.example.com', 'mx2.example.com'], refused: ['evil.example.org'], requireVerify: true });
});

test('stsDecision: enforce with no matching MX allows nothing', (t) => {
  const d = stsDecision(cachedPolicy(), ['evil.example.org']);
  t.deepEqual(d.allowed, []);
  t.deepEqual(d.refused, ['evil.example.org']);
  t.true(d.requireVerify);
});

test('stsDecision: testing allows all and reports what enforce would refuse', (t) => {
  const d = stsDecision(cachedPolicy({ mode: 'testing' }), ['mx1.example.com', 'evil.example.org']);
  t.deepEqual(d, { mode: 'testing', allowed: ['mx1.example.com', 'evil.example.org'], refused: ['evil.example.org'], requireVerify: false });
});

test('stsDecision: mode none and no policy allow everything', (t) => {
  const hosts = ['evil.example.org', 'mx1.example.com'];
  const none = { mode: 'none', allowed: hosts, refused: [], requireVerify: false };
  t.deepEqual(stsDecision(cachedPolicy({ mode: 'none', mx: [] }), hosts), none);
  t.deepEqual(stsDecision(null, hosts), none);
});

// ---------- policyFor ----------

const ENFORCE = 'version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 3600\n';
const TESTING = 'version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 3600\n';

interface Fake {
  deps: MtaStsDeps;
  txt: string[][] | NodeJS.ErrnoException;
  body: string | Error;
  clock: number;
  fetches: string[];
  txtLookups: string[];
  store: Map<string, CachedPolicy>;
}

function fake(txt: Fake['txt'], body: Fake['body']): Fake {
  const f: Fake = {
    txt, body, clock: 1_000_000, fetches: [], txtLookups: [], store: new Map(),
    deps: undefined as unknown as MtaStsDeps,
  };
  f.deps = {
    resolveTxt: async (n) => { f.txtLookups.push(n); if (f.txt instanceof Error) throw f.txt; return f.txt; },
    fetchPolicy: async (d) => { f.fetches.push(d); if (f.body instanceof Error) throw f.body; return f.body; },
    now: () => f.clock,
    cache: { get: (d) => f.store.get(d), put: (d, p) => { f.store.set(d, p); } },
  };
  return f;
}

const dnsError = (code: string) => Object.assign(new Error(`queryTxt ${code}`), { code });

test('policyFor: first lookup fetches, parses and caches', async (t) => {
  const f = fake([['v=STSv1; id=20240101T000000'], ['some other record']], ENFORCE);
  const r = await policyFor('Example.COM', f.deps);
  t.is(r.source, 'fetched');
  t.is(r.problem, undefined);
  t.deepEqual(r.policy, { id: '20240101T000000', mode: 'enforce', mx: ['*.example.com'], maxAgeS: 3600, fetchedAt: 1_000_000 });
  t.deepEqual(f.txtLookups, ['_mta-sts.example.com']);
  t.deepEqual(f.fetches, ['example.com']);
  t.deepEqual(f.store.get('example.com'), r.policy);
});

test('policyFor: TXT split into several strings is joined', async (t) => {
  const f = fake([['v=STSv1; ', 'id=abc123;']], ENFORCE);
  const r = await policyFor('example.com', f.deps);
  t.is(r.policy?.id, 'abc123');
});

test('policyFor: same id and unexpired cache → no fetch', async (t) => {
  const f = fake([['v=STSv1; id=one']], ENFORCE);
  await policyFor('example.com', f.deps);
  f.clock += 3599_000;
  const r = await policyFor('example.com', f.deps);
  t.is(r.source, 'cache');
  t.is(r.policy?.id, 'one');
  t.is(f.fetches.length, 1);
});

test('policyFor: a new id → refetch, and the new policy is cached', async (t) => {
  const f = fake([['v=STSv1; id=one']], ENFORCE);
  await policyFor('example.com', f.deps);
  f.txt = [['v=STSv1; id=two']];
  f.body = TESTING;
  f.clock += 60_000;
  const r = await policyFor('example.com', f.deps);
  t.is(r.source, 'fetched');
  t.is(f.fetches.length, 2);
  t.is(r.policy?.mode, 'testing');
  t.is(f.store.get('example.com')?.id, 'two');
});

test('policyFor: an expired cache is refetched even with the same id', async (t) => {
  const f = fake([['v=STSv1; id=one']], ENFORCE);
  await policyFor('example.com', f.deps);
  f.clock += 3600_000;
  const r = await policyFor('example.com', f.deps);
  t.is(r.source, 'fetched');
  t.is(f.fetches.length, 2);
  t.is(r.policy?.fetchedAt, f.clock);
});

test('policyFor: fetch failure with a valid cache → cached policy, problem reported', async (t) => {
  const f = fake([['v=STSv1; id=one']], ENFORCE);
  await policyFor('example.com', f.deps);
  f.txt = [['v=STSv1; id=two']];
  f.body = new Error('connect ECONNREFUSED');
  const r = await policyFor('example.com', f.deps);
  t.is(r.source, 'cache');
  t.is(r.policy?.id, 'one');
  t.is(r.policy?.mode, 'enforce');
  t.regex(r.problem ?? '', /fetch .*failed: connect ECONNREFUSED/);
  t.is(f.store.get('example.com')?.id, 'one');
});

test('policyFor: an invalid fetched policy with a valid cache → cached policy', async (t) => {
  const f = fake([['v=STSv1; id=one']], ENFORCE);
  await policyFor('example.com', f.deps);
  f.txt = [['v=STSv1; id=two']];
  f.body = '<html>not a policy</html>';
  const r = await policyFor('example.com', f.deps);
  t.is(r.source, 'cache');
  t.is(r.policy?.id, 'one');
  t.regex(r.problem ?? '', /invalid: policy has no version/);
});

test('policyFor: fetch or parse failure without a cache → no policy, with the reason', async (t) => {
  const f = fake([['v=STSv1; id=one']], new Error('certificate has expired'));
  const r = await policyFor('example.com', f.deps);
  t.deepEqual([r.policy, r.source], [null, 'none']);
  t.regex(r.problem ?? '', /certificate has expired/);
  f.body = 'version: STSv1\nmode: enforce\nmax_age: 60\n';
  const r2 = await policyFor('example.com', f.deps);
  t.is(r2.policy, null);
  t.regex(r2.problem ?? '', /no mx/);
  t.is(f.store.size, 0);
});

test('policyFor: TXT missing (NXDOMAIN/ENODATA) with a valid cache → cache kept, no fetch', async (t) => {
  for (const code of ['ENOTFOUND', 'ENODATA']) {
    const f = fake([['v=STSv1; id=one']], ENFORCE);
    await policyFor('example.com', f.deps);
    f.txt = dnsError(code);
    f.clock += 1000_000;
    const r = await policyFor('example.com', f.deps);
    t.is(r.source, 'cache', code);
    t.is(r.policy?.id, 'one', code);
    t.is(r.problem, undefined, code);
    t.is(f.fetches.length, 1, code);
  }
});

test('policyFor: TXT missing and the cache expired → no policy', async (t) => {
  const f = fake([['v=STSv1; id=one']], ENFORCE);
  await policyFor('example.com', f.deps);
  f.txt = dnsError('ENOTFOUND');
  f.clock += 3600_000;
  const r = await policyFor('example.com', f.deps);
  t.deepEqual(r, { policy: null, source: 'none' });
});

test('policyFor: TXT lookup failure (SERVFAIL) → cache if valid, else none with a problem', async (t) => {
  const f = fake([['v=STSv1; id=one']], ENFORCE);
  await policyFor('example.com', f.deps);
  f.txt = dnsError('ESERVFAIL');
  const r = await policyFor('example.com', f.deps);
  t.is(r.source, 'cache');
  t.regex(r.problem ?? '', /ESERVFAIL/);
  const g = fake(dnsError('ESERVFAIL'), ENFORCE);
  const r2 = await policyFor('example.com', g.deps);
  t.is(r2.policy, null);
  t.regex(r2.problem ?? '', /ESERVFAIL/);
  t.is(g.fetches.length, 0);
});

test('policyFor: no STS TXT record at all → none, no fetch', async (t) => {
  const f = fake([['v=spf1 -all']], ENFORCE);
  const r = await policyFor('example.com', f.deps);
  t.deepEqual(r, { policy: null, source: 'none' });
  t.is(f.fetches.length, 0);
});

test('policyFor: two STS TXT records → none, no fetch', async (t) => {
  const f = fake([['v=STSv1; id=one'], ['v=STSv1; id=two']], ENFORCE);
  const r = await policyFor('example.com', f.deps);
  t.is(r.policy, null);
  t.is(r.source, 'none');
  t.regex(r.problem ?? '', /2 v=STSv1 TXT records/);
  t.is(f.fetches.length, 0);
});

test('policyFor: a TXT record without a valid id → none, no fetch', async (t) => {
  for (const rec of ['v=STSv1;', 'v=STSv1; id=has-dash', `v=STSv1; id=${'a'.repeat(33)}`]) {
    const f = fake([[rec]], ENFORCE);
    const r = await policyFor('example.com', f.deps);
    t.is(r.policy, null, rec);
    t.regex(r.problem ?? '', /id/, rec);
    t.is(f.fetches.length, 0, rec);
  }
});

// ---------- httpsPolicyFetcher against local HTTPS servers ----------

const NAME = 'mta-sts.example.test';
let goodCa: TestCa;
let otherNameCa: TestCa;

test.before(() => {
  goodCa = makeTestCa([NAME]);
  otherNameCa = makeTestCa(['mta-sts.other.test']);
});

interface Served { port: number; requests: { url: string; host: string }[] }

async function serve(t: ExecutionContext, cert: { serverKey: string; serverCert: string }, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Served> {
  const served: Served = { port: 0, requests: [] };
  const server = https.createServer({ key: cert.serverKey, cert: cert.serverCert }, (req, res) => {
    served.requests.push({ url: req.url ?? '', host: req.headers.host ?? '' });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  served.port = (server.address() as AddressInfo).port;
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return served;
}

function fetcherFor(s: Served, ca: string | null, lookups: string[] = [], timeoutMs?: number) {
  return httpsPolicyFetcher({ ca, port: s.port, timeoutMs, lookup: async (h) => { lookups.push(h); return '127.0.0.1'; } });
}

test('httpsPolicyFetcher: 200 text/plain (with charset) → the body', async (t) => {
  const s = await serve(t, goodCa, (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }); res.end(ENFORCE); });
  const lookups: string[] = [];
  const body = await fetcherFor(s, goodCa.caCert, lookups)('example.test');
  t.is(body, ENFORCE);
  t.deepEqual(lookups, [NAME]);
  t.deepEqual(s.requests, [{ url: '/.well-known/mta-sts.txt', host: NAME }]);
});

test('httpsPolicyFetcher: a 301 is a failure and is not followed', async (t) => {
  const s = await serve(t, goodCa, (req, res) => {
    if (req.url === '/.well-known/mta-sts.txt') { res.writeHead(301, { location: `https://${NAME}:${s.port}/moved.txt` }); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/plain' }); res.end(ENFORCE);
  });
  await t.throwsAsync(fetcherFor(s, goodCa.caCert)('example.test'), { message: /answered 301/ });
  t.is(s.requests.length, 1);
});

test('httpsPolicyFetcher: a 404 is a failure', async (t) => {
  const s = await serve(t, goodCa, (_req, res) => { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('nope'); });
  await t.throwsAsync(fetcherFor(s, goodCa.caCert)('example.test'), { message: /answered 404/ });
});

test('httpsPolicyFetcher: a Content-Type other than text/plain is a failure', async (t) => {
  const s = await serve(t, goodCa, (_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(ENFORCE); });
  await t.throwsAsync(fetcherFor(s, goodCa.caCert)('example.test'), { message: /Content-Type "text\/html"/ });
});

test('httpsPolicyFetcher: a certificate for another name is a failure', async (t) => {
  const s = await serve(t, otherNameCa, (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(ENFORCE); });
  await t.throwsAsync(fetcherFor(s, otherNameCa.caCert)('example.test'), { message: /altnames|hostname/i });
  t.is(s.requests.length, 0);
});

test('httpsPolicyFetcher: a certificate from an untrusted CA (no ca given) is a failure', async (t) => {
  const s = await serve(t, goodCa, (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(ENFORCE); });
  await t.throwsAsync(fetcherFor(s, null)('example.test'), { message: /certificate|issuer/i });
  t.is(s.requests.length, 0);
});

test('httpsPolicyFetcher: a body over 64 KB is a failure (streamed and with Content-Length)', async (t) => {
  const big = 'x'.repeat(64 * 1024 + 1);
  const chunked = await serve(t, goodCa, (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.write(big.slice(0, 40_000)); res.end(big.slice(40_000)); });
  await t.throwsAsync(fetcherFor(chunked, goodCa.caCert)('example.test'), { message: /larger than 64 KB/ });
  const sized = await serve(t, goodCa, (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(big.length) }); res.end(big); });
  await t.throwsAsync(fetcherFor(sized, goodCa.caCert)('example.test'), { message: /larger than 64 KB/ });
  // exactly 64 KB is still fine
  const edge = await serve(t, goodCa, (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(big.slice(1)); });
  t.is((await fetcherFor(edge, goodCa.caCert)('example.test')).length, 64 * 1024);
});

test('httpsPolicyFetcher: a server that never answers times out', async (t) => {
  const s = await serve(t, goodCa, () => undefined);
  const started = Date.now();
  await t.throwsAsync(fetcherFor(s, goodCa.caCert, [], 300)('example.test'), { message: /timed out after 300 ms/ });
  t.true(Date.now() - started < 5000);
});

test('httpsPolicyFetcher: a name that is not a domain is refused before any lookup', async (t) => {
  const lookups: string[] = [];
  const f = httpsPolicyFetcher({ lookup: async (h) => { lookups.push(h); return '127.0.0.1'; }, port: 1 });
  await t.throwsAsync(f('example.test/../../x'), { message: /not a domain name/ });
  t.deepEqual(lookups, []);
});

test('policyFor with httpsPolicyFetcher end to end: fetched over HTTPS, then served from cache', async (t) => {
  const s = await serve(t, goodCa, (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 86400\r\n'); });
  const f = fake([['v=STSv1; id=e2e']], '');
  const fetchPolicy = fetcherFor(s, goodCa.caCert);
  const deps: MtaStsDeps = { ...f.deps, fetchPolicy };
  const r1 = await policyFor('example.test', deps);
  t.is(r1.source, 'fetched');
  t.deepEqual(r1.policy?.mx, ['mx.example.test']);
  const r2 = await policyFor('example.test', deps);
  t.is(r2.source, 'cache');
  t.is(s.requests.length, 1);
  t.deepEqual(stsDecision(r2.policy, ['mx.example.test', 'rogue.example.test']).allowed, ['mx.example.test']);
});
