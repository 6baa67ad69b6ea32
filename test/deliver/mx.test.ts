// The MX path end to end with an injected resolver: routes {'*': 'mx'}, two MX hosts, the preferred one
// (priority 10) has nothing listening, so the gateway falls through to the second (priority 20) and delivers
// there over TLS verified against that MX host's name. MX hosts normally listen on port 25, which a test
// cannot bind; the resolver's `mxPort` points both at the sink's ephemeral port.
import test from 'ava';
import { makeTestCa } from '../helpers/ca.js';
import { startSink } from '../helpers/sink.js';
import { createConnection } from 'node:net';
import { auditUntil, gatewayWith, names, relay, type TestResolver } from './util.js';

const ca = makeTestCa(['mx2.example.net']);

test('MX: the preferred host refuses connections, the next MX by priority gets the message over verified TLS', async (t) => {
  const sink = await startSink({ tls: { key: ca.serverKey, cert: ca.serverCert } });
  t.teardown(() => sink.close());
  const queries: string[] = [];
  // mx1 resolves to 127.0.0.2 where nothing listens (the sink is bound to 127.0.0.1 only)
  const addrs: Record<string, string[]> = { 'mx1.example.net': ['127.0.0.2'], 'mx2.example.net': ['127.0.0.1'] };
  const resolver: TestResolver = {
    mxPort: sink.port,
    resolveMx: async (n) => {
      queries.push(`MX ${n}`);
      if (n === 'example.net') return [{ exchange: 'mx2.example.net.', priority: 20 }, { exchange: 'mx1.example.net.', priority: 10 }];
      throw Object.assign(new Error('no MX'), { code: 'ENODATA' });
    },
    resolve4: async () => { throw Object.assign(new Error('no A'), { code: 'ENODATA' }); },
    resolve6: async () => { throw Object.assign(new Error('no AAAA'), { code: 'ENODATA' }); },
    lookup: async (h) => {
      queries.push(`A ${h}`);
      if (addrs[h]) return addrs[h]!;
      throw Object.assign(new Error(`no address: ${h}`), { code: 'ENOTFOUND' });
    },
  };
  const refused = await new Promise<string>((r) => {
    const c = createConnection({ host: '127.0.0.2', port: sink.port }, () => { c.destroy(); r('connected'); });
    c.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
  });
  t.is(refused, 'ECONNREFUSED', 'precondition: the preferred MX address has nothing listening');
  const gw = await gatewayWith(t, { routes: { '*': 'mx' }, tls: { '*': 'verify' }, caFile: ca.caCertFile }, resolver);
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['patient@example.net'], body: 'via the backup MX' });
  const [m] = await sink.waitFor(1, 10_000);
  t.regex(m!.bytes.toString(), /via the backup MX/);
  t.regex(m!.tlsProtocol ?? '', /^TLSv1\.[23]$/);
  t.deepEqual(queries.slice(0, 3), ['MX example.net', 'A mx1.example.net', 'A mx2.example.net'], 'MX lookup, then hosts in priority order');

  const evs = await auditUntil(gw, qid, (e) => e.some((x) => x.event === 'delivered'));
  t.deepEqual(names(evs), ['received', 'queued', 'scanned', 'policy', 'delivery-attempt', 'delivered']);
  const attempt = evs.find((e) => e.event === 'delivery-attempt')!;
  const tried = attempt.details['hopsTried'] as { host: string; ip: string; reason: string }[];
  t.is(tried.length, 1, 'one failed hop before the one that worked');
  t.is(tried[0]!.host, 'mx1.example.net');
  t.is(tried[0]!.ip, '127.0.0.2');
  t.is(tried[0]!.reason, 'connection');
  t.is(attempt.details['host'], 'mx2.example.net');
  const delivered = evs.find((e) => e.event === 'delivered')!;
  t.is(delivered.details['host'], 'mx2.example.net');
  t.is(delivered.details['ip'], '127.0.0.1');
  t.is(delivered.details['port'], sink.port);
  t.is(delivered.details['tlsVerified'], true, 'verified against the MX host name mx2.example.net');
});

test('MX: a null MX bounces at once with a DSN-worthy reason; a DNS failure defers', async (t) => {
  const resolver: TestResolver = {
    resolveMx: async (n) => {
      if (n === 'nomail.test') return [{ exchange: '', priority: 0 }];
      throw Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' });
    },
    resolve4: async () => [],
    resolve6: async () => [],
    lookup: async () => { throw Object.assign(new Error('no'), { code: 'ENOTFOUND' }); },
  };
  const gw = await gatewayWith(t, { routes: { '*': 'mx' }, tls: { '*': 'verify' } }, resolver);
  // the sender has no route either (its DSN bounces); that is fine here: we read the original's audit
  const qid = await relay(t, gw, { from: 'ehr@lab.test', to: ['a@nomail.test', 'b@flaky.test'] });
  const evs = await auditUntil(gw, qid, (e) => e.some((x) => x.event === 'deferred') && e.some((x) => x.event === 'bounced'));
  const bounced = evs.find((e) => e.event === 'bounced');
  t.is(bounced?.recipient, 'a@nomail.test');
  t.is(bounced?.details['reason'], 'no-route');
  t.regex(String(bounced?.details['reply']), /null MX/);
  const deferred = evs.find((e) => e.event === 'deferred');
  t.is(deferred?.recipient, 'b@flaky.test');
  t.is(deferred?.details['reason'], 'dns');
  t.regex(String(deferred?.details['reply']), /ESERVFAIL/);
  t.true(evs.some((e) => e.event === 'dsn-sent'));
});
