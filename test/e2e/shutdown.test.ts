// Graceful shutdown and reload of `phigate start` as a real child process: SIGTERM stops new connections, lets an
// open transaction finish with its 250, and exits 0 within shutdownTimeout plus a little, even when a delivery
// hangs; nothing acknowledged is lost. SIGHUP (or nothing at all) picks up users added with `phigate user add`.
import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { startSink } from '../helpers/sink.js';
import { freePort, makeGatewayDir, runCli } from '../helpers/gateway.js';
import { restartChildGateway, startChildGateway } from '../helpers/child-gateway.js';
import { RawSmtp, connectionRefused, testMessage, waitExit } from '../helpers/smtp-raw.js';
import { swaks } from '../helpers/swaks.js';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hashPassword, loadUsers, saveUsers } from '../../src/listener/users.js';

const SHUTDOWN_MS = 3000;
const SLACK_MS = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function relayConfig(relay: number, nextHop: number, extra: Record<string, unknown> = {}) {
  return makeGatewayDir({
    listen: { relay: { host: '127.0.0.1', port: relay, trustedNetworks: ['127.0.0.0/8'] } },
    outbound: { routes: { '*': `127.0.0.1:${nextHop}` }, tls: { '*': 'none' }, caFile: null, retry: { schedule: ['1s'], maxAge: '1h' }, connectTimeout: '30s' },
    log: { level: 'warn' },
    shutdownTimeout: `${SHUTDOWN_MS / 1000}s`,
    ...extra,
  });
}

test.serial('SIGTERM lets an open transaction finish with 250, refuses new connections, and exits 0 in time', async (t) => {
  t.timeout(30_000);
  const sink = await startSink();
  t.teardown(() => sink.close());
  const relay = await freePort();
  const d = relayConfig(relay, sink.port);
  const gw = await startChildGateway(t, d.configFile, relay);

  // A: in the middle of DATA (headers and part of the body sent, no final dot)
  const a = await RawSmtp.connect(relay);
  t.teardown(() => a.destroy());
  await a.ehlo('a.test');
  await a.begin('ehr@clinic.test', ['patient@example.net']);
  const message = testMessage({ from: 'ehr@clinic.test', to: 'patient@example.net', messageId: 'open-1@clinic.test', body: 'first half\r\nsecond half' });
  const cut = message.indexOf('second half');
  a.write(message.slice(0, cut).replace(/\r?\n/g, '\r\n'));
  // B: connected and idle; it must not hold the gateway open beyond the bound
  const b = await RawSmtp.connect(relay);
  t.teardown(() => b.destroy());
  await b.ehlo('b.test');

  const t0 = Date.now();
  process.kill(gw.pid, 'SIGTERM');
  const refuseBy = Date.now() + 2000;
  let refused = false;
  while (!refused && Date.now() < refuseBy) {
    refused = await connectionRefused(relay);
    if (!refused) await sleep(50);
  }
  t.true(refused, 'new connections are refused once shutdown begins');
  t.false(a.closed, 'the open transaction is still connected');

  a.write(message.slice(cut).replace(/\r?\n/g, '\r\n') + '.\r\n');
  const r = await a.read(SHUTDOWN_MS);
  t.is(r.code, 250, r.text);
  t.regex(r.text, /queued as [0-9A-Z]{20}/);
  await a.quit();

  const exit = await waitExit(gw.child, SHUTDOWN_MS + SLACK_MS);
  const took = Date.now() - t0;
  t.deepEqual(exit, { code: 0, signal: null }, `exit after ${took} ms:\n${gw.output()}`);
  t.true(took <= SHUTDOWN_MS + SLACK_MS, `exited ${took} ms after SIGTERM`);
  t.true(b.closed || (await b.read(500).then((x) => x.code === 421, () => true)), 'the idle client was told or disconnected');

  // delivered before the exit, or else after a restart: never lost
  if (!sink.messages.some((m) => m.bytes.includes('open-1@clinic.test'))) {
    const gw2 = await restartChildGateway(t, d.configFile, relay);
    await sink.waitFor(1, 10_000);
    process.kill(gw2.pid, 'SIGTERM');
    await waitExit(gw2.child, SHUTDOWN_MS + SLACK_MS);
  }
  const got = sink.messages.filter((m) => m.bytes.includes('open-1@clinic.test'));
  t.true(got.length >= 1, 'the message that got 250 during shutdown was delivered');
  t.true(got[0]!.bytes.toString().includes('first half\r\nsecond half'));
});

/** A next hop that accepts the whole message and then never answers the final dot. */
async function stallingServer(): Promise<{ port: number; gotDot: Promise<void>; close(): void }> {
  const sockets = new Set<Socket>();
  let dot!: () => void;
  const gotDot = new Promise<void>((r) => { dot = r; });
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let inData = false;
    let buf = '';
    s.write('220 stall.test ESMTP\r\n');
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (inData) {
        if (buf.includes('\r\n.\r\n')) dot();
        return;
      }
      let i: number;
      while (!inData && (i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i).toUpperCase();
        buf = buf.slice(i + 2);
        if (line.startsWith('EHLO')) s.write('250-stall.test\r\n250 8BITMIME\r\n');
        else if (line.startsWith('DATA')) { inData = true; s.write('354 go on\r\n'); }
        else if (line.startsWith('QUIT')) s.end('221 bye\r\n');
        else s.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return {
    port: typeof a === 'object' && a ? a.port : 0,
    gotDot,
    close: () => { for (const s of sockets) s.destroy(); server.close(); },
  };
}

test.serial('SIGTERM exits within the bound even while a delivery hangs, and the message stays queued', async (t) => {
  t.timeout(30_000);
  const stall = await stallingServer();
  t.teardown(() => stall.close());
  const relay = await freePort();
  const d = relayConfig(relay, stall.port);
  const gw = await startChildGateway(t, d.configFile, relay);
  const c = await RawSmtp.connect(relay);
  await c.ehlo();
  const r = await c.send('ehr@clinic.test', ['patient@example.net'], testMessage({ from: 'ehr@clinic.test', to: 'patient@example.net', messageId: 'hang-1@clinic.test', body: 'x' }));
  t.is(r.code, 250);
  const qid = /queued as ([0-9A-Z]{20})/.exec(r.text)![1]!;
  await c.quit();
  await Promise.race([stall.gotDot, sleep(10_000)]);

  const t0 = Date.now();
  process.kill(gw.pid, 'SIGTERM');
  const exit = await waitExit(gw.child, SHUTDOWN_MS + SLACK_MS);
  const took = Date.now() - t0;
  t.deepEqual(exit, { code: 0, signal: null }, `no clean exit within ${SHUTDOWN_MS + SLACK_MS} ms:\n${gw.output()}`);
  if (!exit) process.kill(gw.pid, 'SIGKILL');

  const q = await runCli(['queue', 'list', '--json', '--config', d.configFile]);
  t.is(q.code, 0, q.stderr);
  t.true(q.stdout.includes(qid), `the unfinished message is still queued:\n${q.stdout}`);
  const v = await runCli(['audit', 'verify', '--config', d.configFile]);
  t.is(v.code, 0, v.stderr);
  t.log(`exited ${took} ms after SIGTERM`);
});

test.serial('a user added while the gateway runs can log in, after SIGHUP and without a restart', async (t) => {
  t.timeout(30_000);
  const submission = await freePort();
  const d = makeGatewayDir({
    listen: { submission: { host: '127.0.0.1', port: submission } },
    outbound: { routes: { '*': '127.0.0.1:9' }, tls: { '*': 'none' }, caFile: null, retry: { schedule: ['1h'], maxAge: '2h' } },
    log: { level: 'warn' },
  });
  const gw = await startChildGateway(t, d.configFile, submission);
  const password = 'a long enough password 42';
  const auth = () => swaks(['--server', '127.0.0.1', '--port', String(submission), '--tls', '--auth', 'PLAIN', '--auth-user', 'nurse', '--auth-password', password, '--quit-after', 'AUTH'], undefined, 15_000);

  const before = await auth();
  t.not(before.code, 0, 'no such user yet');
  t.regex(before.out, /535/);

  const add = await runCli(['user', 'add', 'nurse', '--password-stdin', '--config', d.configFile], password + '\n');
  t.is(add.code, 0, add.stderr);
  process.kill(gw.pid, 'SIGHUP');
  await sleep(300);
  const after = await auth();
  t.is(after.code, 0, after.out);
  t.regex(after.out, /235/);
  t.true(gw.alive(), 'the same process, no restart');

  // the reload survives a broken users file: the previous users stay in force
  writeFileSync(d.config['users'], 'users: [this is: not valid');
  process.kill(gw.pid, 'SIGHUP');
  await sleep(300);
  const still = await auth();
  t.is(still.code, 0, still.out);
  t.true(gw.alive(), gw.output());
});

test.serial('SIGHUP reloads the users file even when it was replaced by one of the same size and time', async (t) => {
  // An admin restores users.yaml from a backup (cp -p keeps the time) and sends SIGHUP: the reload must read it,
  // whatever the file's size and modification time say.
  t.timeout(30_000);
  const submission = await freePort();
  const d = makeGatewayDir({
    listen: { submission: { host: '127.0.0.1', port: submission } },
    outbound: { routes: { '*': '127.0.0.1:9' }, tls: { '*': 'none' }, caFile: null, retry: { schedule: ['1h'], maxAge: '2h' } },
    log: { level: 'warn' },
  });
  const file: string = d.config['users'];
  const password = 'a long enough password 42';
  const created = '2026-11-29T10:00:00.000Z';
  saveUsers(file, new Map([['nurse1', { hash: await hashPassword(password), created }]]));
  const replacement = `${file}.backup`;
  saveUsers(replacement, new Map([['nurse2', { hash: await hashPassword(password), created }]]));
  t.is(statSync(file).size, statSync(replacement).size, 'same size by construction');
  const stamp = new Date('2026-11-29T10:00:00Z');
  utimesSync(file, stamp, stamp);
  const gw = await startChildGateway(t, d.configFile, submission);
  const auth = (user: string) => swaks(['--server', '127.0.0.1', '--port', String(submission), '--tls', '--auth', 'PLAIN', '--auth-user', user, '--auth-password', password, '--quit-after', 'AUTH'], undefined, 15_000);
  t.is((await auth('nurse1')).code, 0, 'the first users file is in force');

  writeFileSync(file, readFileSync(replacement));
  utimesSync(file, stamp, stamp);
  t.deepEqual([...loadUsers(file).keys()], ['nurse2']);
  process.kill(gw.pid, 'SIGHUP');
  await sleep(300);
  const r = await auth('nurse2');
  t.is(r.code, 0, r.out);
  t.not((await auth('nurse1')).code, 0, 'the replaced user is gone');
});
