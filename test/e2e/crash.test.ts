// Crash safety, with real parts: `phigate start` as a child process takes a load of messages over several SMTP
// connections, is killed with SIGKILL in the middle of it, and is started again on the same data. Every message
// that got a 250 must reach the receiving server (at least once; duplicates are allowed), and the audit chain
// must still verify with `phigate audit verify`.
import test from 'ava';
import { join } from 'node:path';
import { startSink } from '../helpers/sink.js';
import { freePort, makeGatewayDir, runCli } from '../helpers/gateway.js';
import { restartChildGateway, startChildGateway } from '../helpers/child-gateway.js';
import { RawSmtp, testMessage, waitExit } from '../helpers/smtp-raw.js';
import { openStore } from '../../src/store.js';
import { queryAudit } from '../../src/audit/query.js';

const TOTAL = 300;
const KILL_AFTER_ACKS = 100;

const markerOf = (bytes: Buffer): string | null => /^X-Crash-Marker: (m-\d+)\r?$/m.exec(bytes.toString('latin1'))?.[1] ?? null;

// Six connections share LMDB group commits; one connection alone goes through the acceptance journal.
const crashMacro = test.macro(async (t, CONNECTIONS: number) => {
  t.timeout(45_000);
  // Before the crash the sink defers every third DATA with a 451, so at the moment of the kill the queue holds
  // pending and deferred entries as well as entries already delivered (whose redelivery is allowed).
  let crashed = false;
  const sink = await startSink({ onData: (n) => (!crashed && n % 3 === 0 ? [451, '4.3.0 try again later'] : null) });
  t.teardown(() => sink.close());
  const relay = await freePort();
  const d = makeGatewayDir({
    listen: { relay: { host: '127.0.0.1', port: relay, trustedNetworks: ['127.0.0.0/8'] } },
    outbound: { routes: { '*': `127.0.0.1:${sink.port}` }, tls: { '*': 'none' }, caFile: null, retry: { schedule: ['1s'], maxAge: '1h' } },
    log: { level: 'warn' },
    shutdownTimeout: '3s',
  });

  const t0 = Date.now();
  const phases: string[] = [];
  const phase = (name: string) => phases.push(`${name} ${Date.now() - t0} ms`);
  const gw1 = await startChildGateway(t, d.configFile, relay);
  phase('started');
  const acked = new Map<string, string>(); // marker -> queue id
  let next = 0;
  let killedAt = -1;
  const worker = async (w: number) => {
    let c: RawSmtp;
    try {
      c = await RawSmtp.connect(relay);
      await c.ehlo(`load${w}.test`);
    } catch {
      return;
    }
    try {
      while (killedAt < 0 && next < TOTAL) {
        const n = next++;
        const marker = `m-${n}`;
        const msg = testMessage({
          from: 'ehr@clinic.test', to: `patient${n}@example.net`, messageId: `${marker}.crash@clinic.test`,
          extraHeaders: [`X-Crash-Marker: ${marker}`], body: `load message ${n}\r\n${'x'.repeat(200 + (n % 7) * 100)}`,
        });
        const r = await c.send('ehr@clinic.test', [`patient${n}@example.net`], msg, 10_000);
        if (r.code === 250) {
          acked.set(marker, /queued as ([0-9A-Z]{20})/.exec(r.text)?.[1] ?? '');
          if (acked.size >= KILL_AFTER_ACKS && killedAt < 0) {
            killedAt = acked.size;
            process.kill(gw1.pid, 'SIGKILL');
          }
        }
      }
    } catch {
      // the gateway died under this connection: whatever had no 250 is not owed
    } finally {
      c.destroy();
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => worker(i)));
  phase('killed');
  const exit = await waitExit(gw1.child, 5000);
  t.truthy(exit, 'the gateway died');
  t.is(exit?.signal, 'SIGKILL', gw1.output());
  t.true(acked.size >= KILL_AFTER_ACKS, `only ${acked.size} messages were acknowledged before the kill`);
  t.true(acked.size < TOTAL, 'the kill came in the middle of the load');
  for (const qid of acked.values()) t.regex(qid, /^[0-9A-Z]{20}$/);

  const before = new Set(sink.messages.map((m) => markerOf(m.bytes)));
  const owed = [...acked.keys()].filter((m) => !before.has(m));
  t.log(`${acked.size} acknowledged, ${acked.size - owed.length} delivered before the kill, ${owed.length} owed after restart`);
  t.true(owed.length > 0, 'the kill left acknowledged messages undelivered (so the restart path is exercised)');

  crashed = true;
  const gw2 = await restartChildGateway(t, d.configFile, relay);
  const deadline = Date.now() + 25_000;
  let missing = [...acked.keys()];
  while (Date.now() < deadline) {
    const got = new Set(sink.messages.map((m) => markerOf(m.bytes)));
    missing = [...acked.keys()].filter((m) => !got.has(m));
    if (!missing.length) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  phase('redelivered');
  t.deepEqual(missing, [], `acknowledged messages never delivered after restart:\n${gw2.output()}`);
  for (const m of sink.messages) t.not(markerOf(m.bytes), null, 'the sink got only our messages');

  // graceful stop, then the auditor's checks on the data the crash left behind
  process.kill(gw2.pid, 'SIGTERM');
  const exit2 = await waitExit(gw2.child, 10_000);
  t.deepEqual(exit2, { code: 0, signal: null }, gw2.output());
  phase('stopped');
  const v = await runCli(['audit', 'verify', '--config', d.configFile]);
  t.is(v.code, 0, v.stderr + v.stdout);
  t.regex(v.stdout, /audit chain ok: \d+ records/);

  phase('verified');
  t.log(phases.join(', '));
  const store = openStore(join(d.dir, 'data'));
  try {
    for (const [marker, qid] of acked) {
      const events = queryAudit(store, { queueId: qid }).map((e) => e.event);
      t.true(events.includes('received') && events.includes('queued') && events.includes('delivered'), `${marker} ${qid}: ${events.join(',')}`);
    }
  } finally {
    await store.close();
  }
});

test('SIGKILL in the middle of a load over six connections loses no acknowledged message and leaves a verifiable audit chain', crashMacro, 6);
test('SIGKILL in the middle of a load from one client (acceptance journal) loses no acknowledged message and leaves a verifiable audit chain', crashMacro, 1);
