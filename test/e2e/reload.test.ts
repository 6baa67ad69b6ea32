// Reload (what SIGHUP runs): edited outbound routes and TLS levels apply to the next message without a
// restart; an invalid edit keeps the running configuration.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { startSink } from '../helpers/sink.js';
import { makeGatewayDir, startTestGateway } from '../helpers/gateway.js';
import { swaks } from '../helpers/swaks.js';

test('reload applies a new route; a broken config file leaves the last good one in force', async (t) => {
  const a = await startSink();
  const b = await startSink();
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const d = makeGatewayDir({ outbound: { routes: { '*': `127.0.0.1:${a.port}` }, tls: { '*': 'none' }, caFile: null, retry: { schedule: ['10m'], maxAge: '1h' } } });
  const gw = await startTestGateway(d);
  t.teardown(() => gw.stop());
  const send = async (body: string) => {
    const r = await swaks(['--server', '127.0.0.1', '--port', String(gw.listeners.addresses['relay']!.port), '--from', 'ehr@clinic.example', '--to', 'p@example.org', '--body', body]);
    t.is(r.code, 0, r.out);
  };
  await send('before reload');
  await a.waitFor(1);

  writeFileSync(d.configFile, readFileSync(d.configFile, 'utf8').replace(`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`));
  gw.reload();
  await send('after reload');
  await b.waitFor(1);
  t.true(b.messages[0]!.bytes.toString().includes('after reload'));

  writeFileSync(d.configFile, readFileSync(d.configFile, 'utf8').replace(`127.0.0.1:${b.port}`, 'not a route'));
  gw.reload();
  await send('after a bad edit');
  await b.waitFor(2);
  t.true(b.messages[1]!.bytes.toString().includes('after a bad edit'), 'the last good route is still used');
  t.is(a.messages.length, 1, 'nothing went back to the old route');
});
