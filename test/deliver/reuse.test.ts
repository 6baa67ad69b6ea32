// Connection reuse per next hop: messages to the same next hop that follow each other share one SMTP session
// (no RSET between them: a completed transaction leaves the server in its initial state); another next hop gets
// its own.
import test from 'ava';
import { startSink } from '../helpers/sink.js';
import { gatewayWith, relay, auditUntil, startBrokenTlsServer } from './util.js';

test('three messages in a row to one next hop use one connection; a second next hop gets its own', async (t) => {
  const a = await startSink();
  const b = await startSink();
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const gw = await gatewayWith(t, { routes: { 'a.example': `127.0.0.1:${a.port}`, 'b.example': `127.0.0.1:${b.port}` }, tls: { '*': 'none' } });
  for (const i of [1, 2, 3]) {
    const q = await relay(t, gw, { from: 'ehr@clinic.example', to: [`p${i}@a.example`], body: `message ${i}` });
    const evs = await auditUntil(gw, q, (e) => e.some((x) => x.event === 'delivered'));
    t.true(evs.some((x) => x.event === 'delivered'), `message ${i} delivered`);
  }
  await a.waitFor(3);
  t.is(a.connections, 1, 'one session carried all three messages');
  const q = await relay(t, gw, { from: 'ehr@clinic.example', to: ['p@b.example'] });
  await auditUntil(gw, q, (e) => e.some((x) => x.event === 'delivered'));
  await b.waitFor(1);
  t.is(b.connections, 1);
  t.is(a.connections, 1, 'the other next hop did not touch the first one');
});

test('a reused session goes straight to the next MAIL FROM: no RSET after a delivered message', async (t) => {
  const srv = await startBrokenTlsServer(); // without STARTTLS it is a plain, command-logging SMTP server
  t.teardown(() => srv.close());
  const gw = await gatewayWith(t, { routes: { 'c.example': `127.0.0.1:${srv.port}` }, tls: { '*': 'none' } });
  for (const i of [1, 2]) {
    const q = await relay(t, gw, { from: 'ehr@clinic.example', to: [`p${i}@c.example`], body: `message ${i}` });
    await auditUntil(gw, q, (e) => e.some((x) => x.event === 'delivered'));
  }
  t.is(srv.messages.length, 2);
  t.is(srv.connections, 1);
  t.deepEqual(srv.verbs, ['EHLO', 'MAIL', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA']);
});
