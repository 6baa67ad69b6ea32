// Unit tests (no network) for next-hop resolution: configured routes with wildcards, and MX resolution through
// an injected resolver (priority order, implicit MX, null MX, temporary and permanent DNS failures).
import test from 'ava';
import { parseHostPort, resolveNextHops, routeFor, type Resolver } from '../../src/deliver/route.js';

const err = (code: string) => Object.assign(new Error(`DNS ${code}`), { code });

/** A resolver from a table; a missing name is ENODATA, an Error value is thrown. Records every query. */
function zone(records: { mx?: Record<string, unknown>; a?: Record<string, unknown>; aaaa?: Record<string, unknown> }, extra: Partial<Resolver> = {}) {
  const calls: string[] = [];
  const get = async (kind: string, table: Record<string, unknown> | undefined, name: string): Promise<never> => {
    calls.push(`${kind} ${name}`);
    const v = table?.[name];
    if (v === undefined) throw err('ENODATA');
    if (v instanceof Error) throw v;
    return v as never;
  };
  const r: Resolver = {
    resolveMx: (n) => get('MX', records.mx, n),
    resolve4: (n) => get('A', records.a, n),
    resolve6: (n) => get('AAAA', records.aaaa, n),
    ...extra,
  };
  return { r, calls };
}

test('routeFor: exact, then the closest *.parent wildcard, then *', (t) => {
  const routes = { 'example.net': 'exact:1', '*.example.net': 'sub:2', '*.net': 'net:3', '*': 'mx' };
  t.is(routeFor('example.net', routes), 'exact:1');
  t.is(routeFor('EXAMPLE.Net', routes), 'exact:1', 'domains compare case-insensitively');
  t.is(routeFor('mx.example.net', routes), 'sub:2');
  t.is(routeFor('a.b.example.net', routes), 'sub:2', 'the closest parent wins over *.net');
  t.is(routeFor('other.net', routes), 'net:3');
  t.is(routeFor('example.org', routes), 'mx');
  t.is(routeFor('net', routes), 'mx', 'a wildcard never matches its own parent');
  t.is(routeFor('example.net', { '*.example.net': 'sub:2', '*': 'fallback:25' }), 'fallback:25', '*.example.net does not cover example.net');
  t.is(routeFor('example.org', {}), 'mx', 'no table at all: MX');
});

test('parseHostPort: host:port and [ipv6]:port', (t) => {
  t.deepEqual(parseHostPort('relay.example:2525'), { host: 'relay.example', port: 2525, viaMx: false });
  t.deepEqual(parseHostPort('[::1]:25'), { host: '::1', port: 25, viaMx: false });
  t.throws(() => parseHostPort('relay.example'), { message: /bad route/ });
});

test('an explicit route uses no DNS at all', async (t) => {
  const { r, calls } = zone({});
  const res = await resolveNextHops('example.net', { 'example.net': 'smarthost.local:2525' }, r);
  t.deepEqual(res, { ok: true, hops: [{ host: 'smarthost.local', port: 2525, viaMx: false }] });
  t.deepEqual(calls, []);
});

test('MX hosts are tried in priority order, trailing dots stripped, on port 25', async (t) => {
  const { r } = zone({ mx: { 'example.net': [
    { exchange: 'mx3.example.net.', priority: 30 },
    { exchange: 'mx1.example.net.', priority: 10 },
    { exchange: 'mx2.example.net', priority: 20 },
  ] } });
  const res = await resolveNextHops('example.net', { '*': 'mx' }, r);
  t.true(res.ok);
  if (!res.ok) return;
  t.deepEqual(res.hops.map((h) => h.host), ['mx1.example.net', 'mx2.example.net', 'mx3.example.net']);
  t.true(res.hops.every((h) => h.port === 25 && h.viaMx));
});

test('a resolver may name the SMTP port of MX hosts (labs and tests); 25 otherwise', async (t) => {
  const { r } = zone({ mx: { 'example.net': [{ exchange: 'mx1.example.net', priority: 10 }] }, a: { 'implicit.test': ['192.0.2.1'] } }, { mxPort: 2525 });
  const mx = await resolveNextHops('example.net', { '*': 'mx' }, r);
  t.deepEqual(mx, { ok: true, hops: [{ host: 'mx1.example.net', port: 2525, viaMx: true }] });
  const implicit = await resolveNextHops('implicit.test', { '*': 'mx' }, r);
  t.deepEqual(implicit, { ok: true, hops: [{ host: 'implicit.test', port: 2525, viaMx: false }] });
});

test('no MX records: the domain itself is the implicit MX (A or AAAA)', async (t) => {
  const v4 = zone({ a: { 'clinic.test': ['192.0.2.7'] } });
  t.deepEqual(await resolveNextHops('clinic.test', { '*': 'mx' }, v4.r), { ok: true, hops: [{ host: 'clinic.test', port: 25, viaMx: false }] });
  t.deepEqual(v4.calls.slice(0, 1), ['MX clinic.test']);
  const v6 = zone({ aaaa: { 'clinic.test': ['2001:db8::7'] } });
  t.deepEqual(await resolveNextHops('clinic.test', { '*': 'mx' }, v6.r), { ok: true, hops: [{ host: 'clinic.test', port: 25, viaMx: false }] });
  const empty = zone({ mx: { 'clinic.test': [] }, a: { 'clinic.test': ['192.0.2.7'] } });
  t.deepEqual(await resolveNextHops('clinic.test', { '*': 'mx' }, empty.r), { ok: true, hops: [{ host: 'clinic.test', port: 25, viaMx: false }] }, 'an empty MX answer counts as none');
  const nx = zone({ mx: { 'clinic.test': err('ENOTFOUND') }, a: { 'clinic.test': ['192.0.2.7'] } });
  t.true((await resolveNextHops('clinic.test', { '*': 'mx' }, nx.r)).ok);
});

test('a null MX (RFC 7505) is a permanent failure', async (t) => {
  for (const exchange of ['', '.']) {
    const { r } = zone({ mx: { 'nomail.test': [{ exchange, priority: 0 }] }, a: { 'nomail.test': ['192.0.2.9'] } });
    const res = await resolveNextHops('nomail.test', { '*': 'mx' }, r);
    t.false(res.ok);
    if (res.ok) continue;
    t.true(res.permanent);
    t.regex(res.reason, /null MX/);
  }
});

test('no MX and no address records is permanent', async (t) => {
  const { r } = zone({ mx: { 'gone.test': err('ENOTFOUND') }, a: { 'gone.test': err('ENOTFOUND') }, aaaa: { 'gone.test': err('ENOTFOUND') } });
  const res = await resolveNextHops('gone.test', { '*': 'mx' }, r);
  t.deepEqual(res, { ok: false, permanent: true, reason: 'gone.test has no MX and no address records' });
});

test('a DNS failure of the MX lookup is temporary, and no address lookup is tried', async (t) => {
  for (const code of ['ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED']) {
    const { r, calls } = zone({ mx: { 'example.net': err(code) }, a: { 'example.net': ['192.0.2.1'] } });
    const res = await resolveNextHops('example.net', { '*': 'mx' }, r);
    t.false(res.ok);
    if (res.ok) continue;
    t.false(res.permanent, code);
    t.regex(res.reason, new RegExp(`MX lookup for example\\.net failed: ${code}`));
    t.deepEqual(calls, ['MX example.net']);
  }
});

test('a DNS failure of the implicit-MX address lookup is temporary, never a bounce', async (t) => {
  // no MX records, and the A lookup times out: we do not know that the domain has no address
  const { r } = zone({ a: { 'example.net': err('ETIMEOUT') } });
  const res = await resolveNextHops('example.net', { '*': 'mx' }, r);
  t.false(res.ok);
  if (res.ok) return;
  t.false(res.permanent);
  t.regex(res.reason, /ETIMEOUT/);
  // one family answering is enough, even if the other fails
  const half = zone({ a: { 'example.net': ['192.0.2.1'] }, aaaa: { 'example.net': err('ESERVFAIL') } });
  t.true((await resolveNextHops('example.net', { '*': 'mx' }, half.r)).ok);
});
