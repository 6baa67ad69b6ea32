// The listener's refusals, each over a real socket: the right basic and enhanced code, a sentence a person can
// act on, and nothing half-written (no queue entry, no `received` event; a `rejected` audit event where the
// listener owns the refusal). The accepted case pins the 250 text and that the message really moves on.
import test from 'ava';
import { startSink } from '../helpers/sink.js';
import { swaks } from '../helpers/swaks.js';
import { rawConnect, ehloClient } from '../helpers/raw-smtp.js';
import { REPLIES } from '../../src/smtp-reply.js';
import { listEntries } from '../../src/spool/spool.js';
import { gateway, events, waitEvent, nothingAccepted, until, SENTENCE, USER, PASSWORD } from './kit.js';

const plain = (user: string, pw: string) => Buffer.from(`\0${user}\0${pw}`).toString('base64');

function listen(relayExtra: Record<string, unknown> = {}, extra: Record<string, Record<string, unknown>> = {}) {
  return {
    submission: { host: '127.0.0.1', port: 0, ...extra['submission'] },
    smtps: { host: '127.0.0.1', port: 0, ...extra['smtps'] },
    relay: { host: '127.0.0.1', port: 0, trustedNetworks: ['127.0.0.0/8', '::1/128'], ...relayExtra },
  };
}

test('a garbage line gets 500 5.5.2 with a sentence; the session survives and nothing is queued', async (t) => {
  const { gw, port } = await gateway(t);
  const { c } = await ehloClient(port('relay'));
  t.teardown(() => c.close());
  const r = await c.cmd('XYZZY plugh %%%');
  t.is(r.code, 500);
  t.is(r.enhanced, '5.5.2');
  t.regex(r.lines[0]!, SENTENCE);
  t.notRegex(r.raw, /plugh/, 'the client line is not echoed');
  const noop = await c.cmd('NOOP');
  t.is(noop.code, 250, 'the connection is still usable');
  t.true(nothingAccepted(gw));
});

test('RCPT before MAIL gets 503 5.5.1; DATA before RCPT gets 503 5.5.1', async (t) => {
  const { gw, port } = await gateway(t);
  const { c } = await ehloClient(port('relay'));
  t.teardown(() => c.close());
  const r = await c.cmd('RCPT TO:<patient@example.net>');
  t.is(r.code, 503);
  t.is(r.enhanced, '5.5.1');
  t.regex(r.lines[0]!, SENTENCE);
  t.is((await c.cmd('MAIL FROM:<ehr@lab.test>')).code, 250);
  const d = await c.cmd('DATA');
  t.is(d.code, 503);
  t.is(d.enhanced, '5.5.1');
  t.true(nothingAccepted(gw));
});

test('a message over limits.maxMessageSize gets 552 5.3.4, is not queued, is audited; the next message still goes', async (t) => {
  const { gw, port } = await gateway(t, { limits: { maxMessageSize: '2KB' } });
  const { c, ehlo } = await ehloClient(port('relay'));
  t.teardown(() => c.close());
  t.true(ehlo.lines.includes('SIZE 2048'), ehlo.raw);
  t.is((await c.cmd('MAIL FROM:<ehr@lab.test>')).code, 250);
  t.is((await c.cmd('RCPT TO:<patient@example.net>')).code, 250);
  t.is((await c.cmd('DATA')).code, 354);
  c.write(`From: ehr@lab.test\r\nSubject: big\r\n\r\n${('x'.repeat(76) + '\r\n').repeat(60)}.\r\n`);
  const r = await c.read();
  t.is(r.code, 552);
  t.is(r.enhanced, '5.3.4');
  t.is(r.lines[0], REPLIES.messageTooBig.text);
  const ev = await waitEvent(gw, 'rejected', (e) => e.details['reason'] === 'messageTooBig');
  t.is(ev.details['reply'], '552 5.3.4');
  t.is(ev.sender, 'ehr@lab.test');
  t.true(nothingAccepted(gw));

  // a declared SIZE over the limit is refused at MAIL FROM with the same codes
  const m = await c.cmd('MAIL FROM:<ehr@lab.test> SIZE=999999');
  t.is(m.code, 552);
  t.is(m.enhanced, '5.3.4');
  t.regex(m.lines[0]!, SENTENCE);

  // the session is clean: a small message on the same connection is accepted
  t.is((await c.cmd('MAIL FROM:<ehr@lab.test>')).code, 250);
  t.is((await c.cmd('RCPT TO:<patient@example.net>')).code, 250);
  t.is((await c.cmd('DATA')).code, 354);
  const ok = await c.cmd('From: ehr@lab.test\r\nSubject: small\r\n\r\nhello\r\n.');
  t.is(ok.code, 250, ok.raw);
  // (a DSN for the unroutable test domain may follow; only client messages count here; a message from a lone
  // client reaches the spool's LMDB a moment after its 250, from the acceptance journal)
  await waitEvent(gw, 'received', (e) => e.details['kind'] === 'message');
  t.is(events(gw, 'received').filter((e) => e.details['kind'] === 'message').length, 1);
});

test('recipients over limits.maxRecipients get 452 4.5.3; the ones before it are kept', async (t) => {
  const { gw, port } = await gateway(t, { limits: { maxRecipients: 3 } });
  const { c } = await ehloClient(port('relay'));
  t.teardown(() => c.close());
  t.is((await c.cmd('MAIL FROM:<ehr@lab.test>')).code, 250);
  for (const n of [1, 2, 3]) {
    const r = await c.cmd(`RCPT TO:<p${n}@example.net>`);
    t.is(r.code, 250);
    t.is(r.enhanced, '2.1.5');
  }
  const r = await c.cmd('RCPT TO:<p4@example.net>');
  t.is(r.code, 452);
  t.is(r.enhanced, '4.5.3');
  t.is(r.lines[0], REPLIES.tooManyRecipients.text);
  const ev = await waitEvent(gw, 'rejected', (e) => e.details['reason'] === 'tooManyRecipients');
  t.is(ev.details['reply'], '452 4.5.3');
  t.is(ev.sender, 'ehr@lab.test');
  t.true(nothingAccepted(gw));
});

test('AUTH before STARTTLS on submission gets 530 5.7.0 and names STARTTLS', async (t) => {
  const { gw, port } = await gateway(t);
  const { c } = await ehloClient(port('submission'));
  t.teardown(() => c.close());
  const r = await c.cmd(`AUTH PLAIN ${plain(USER, PASSWORD)}`);
  t.is(r.code, 530);
  t.is(r.enhanced, '5.7.0');
  t.is(r.lines[0], REPLIES.startTlsFirst.text);
  t.is(events(gw, 'auth-failed').length, 0, 'the password was never checked');
});

test('MAIL FROM without AUTH gets 530 5.7.0 on submission (after STARTTLS) and on smtps; audited as rejected', async (t) => {
  const { gw, port } = await gateway(t);
  const { c } = await ehloClient(port('submission'));
  t.teardown(() => c.close());
  t.is((await c.cmd('STARTTLS')).code, 220);
  await c.startTls();
  t.is((await c.cmd('EHLO client.test')).code, 250);
  const r = await c.cmd('MAIL FROM:<frontdesk@clinic.test>');
  t.is(r.code, 530);
  t.is(r.enhanced, '5.7.0');
  t.is(r.lines[0], REPLIES.authRequired.text);

  const s = await ehloClient(port('smtps'), { tls: true });
  t.teardown(() => s.c.close());
  const r2 = await s.c.cmd('MAIL FROM:<frontdesk@clinic.test>');
  t.is(r2.code, 530);
  t.is(r2.enhanced, '5.7.0');
  await until(() => events(gw, 'rejected').filter((e) => e.details['reason'] === 'authRequired').length === 2, 3000, 'two authRequired events');
  const listeners = events(gw, 'rejected').map((e) => e.details['listener']).sort();
  t.deepEqual(listeners, ['smtps', 'submission']);
  t.true(nothingAccepted(gw));
});

test('a wrong password gets 535 5.7.8 (swaks); the audit names the user and never holds the password', async (t) => {
  const { gw, port } = await gateway(t);
  const wrong = 'Tr0ub4dor&3-wrong-pw';
  const r = await swaks(['--server', '127.0.0.1', '--port', String(port('submission')), '--tls', '--auth', 'LOGIN', '--auth-user', USER,
    '--auth-password', wrong, '--from', 'frontdesk@clinic.test', '--to', 'patient@example.net']);
  t.not(r.code, 0);
  t.regex(r.out, /<~\* 535 5\.7\.8 Authentication failed: wrong user name or password/);
  const ev = await waitEvent(gw, 'auth-failed');
  t.is(ev.details['user'], USER);
  t.is(ev.details['listener'], 'submission');
  t.is(ev.details['method'], 'LOGIN');
  const all = JSON.stringify(events(gw));
  t.false(all.includes(wrong), 'the tried password is not in the audit');
  t.false(all.includes(Buffer.from(wrong).toString('base64')), 'nor its base64');
  t.false(all.includes(PASSWORD), 'nor the real one');
  t.true(nothingAccepted(gw));
});

test('after auth.maxFailures failures the right password gets 454 4.7.0 and an auth-locked event', async (t) => {
  const { gw, port } = await gateway(t, { auth: { maxFailures: 3, window: '15m', lockout: '15m' } });
  const { c } = await ehloClient(port('smtps'), { tls: true });
  t.teardown(() => c.close());
  for (let i = 0; i < 3; i++) {
    const r = await c.cmd(`AUTH PLAIN ${plain(USER, `wrong-password-${i}`)}`);
    t.is(r.code, 535, r.raw);
    t.is(r.enhanced, '5.7.8');
  }
  const locked = await c.cmd(`AUTH PLAIN ${plain(USER, PASSWORD)}`);
  t.is(locked.code, 454);
  t.is(locked.enhanced, '4.7.0');
  t.is(locked.lines[0], REPLIES.authLocked.text);
  // a real client on a fresh connection is locked out too
  const r = await swaks(['--server', '127.0.0.1', '--port', String(port('submission')), '--tls', '--auth', 'PLAIN', '--auth-user', USER,
    '--auth-password', PASSWORD, '--from', 'frontdesk@clinic.test', '--to', 'patient@example.net']);
  t.not(r.code, 0);
  t.regex(r.out, /<~\* 454 4\.7\.0 Too many failed logins/);
  const ev = await waitEvent(gw, 'auth-locked');
  t.is(ev.details['user'], USER);
  const failed = events(gw, 'auth-failed');
  t.is(failed.length, 3);
  t.is(failed[2]!.details['lockoutStarted'], true);
  t.false(JSON.stringify(events(gw)).includes(PASSWORD));
  t.true(nothingAccepted(gw));
});

test('a relay client outside trustedNetworks gets 554 5.7.1 at connect and is disconnected', async (t) => {
  const { gw, port } = await gateway(t, { listen: listen({ trustedNetworks: ['10.0.0.0/8'] }) });
  const c = await rawConnect(port('relay'));
  t.teardown(() => c.close());
  const r = await c.read();
  t.is(r.code, 554);
  t.is(r.enhanced, '5.7.1');
  t.is(r.lines[0], REPLIES.relayDenied.text);
  await c.closed;
  const ev = await waitEvent(gw, 'rejected', (e) => e.details['reason'] === 'relayDenied');
  t.is(ev.details['clientIp'], '127.0.0.1');
  t.is(ev.details['reply'], '554 5.7.1');
  // swaks sees the same refusal
  const s = await swaks(['--server', '127.0.0.1', '--port', String(port('relay')), '--from', 'ehr@lab.test', '--to', 'patient@example.net']);
  t.not(s.code, 0);
  t.regex(s.out, /<\*\* 554 5\.7\.1 Relay access denied/);
  t.true(nothingAccepted(gw));
});

test('a message with more Received headers than limits.maxReceivedHeaders gets 554 5.4.6; one under the limit is accepted', async (t) => {
  const { gw, port } = await gateway(t, { limits: { maxReceivedHeaders: 3 } });
  const { c } = await ehloClient(port('relay'));
  t.teardown(() => c.close());
  const received = (n: number) => Array.from({ length: n }, (_, i) => `Received: from hop${i}.test by hop${i + 1}.test; Sat, 28 Nov 2026 10:00:0${i} +0000\r\n`).join('');
  const send = async (n: number) => {
    t.is((await c.cmd('MAIL FROM:<ehr@lab.test>')).code, 250);
    t.is((await c.cmd('RCPT TO:<patient@example.net>')).code, 250);
    t.is((await c.cmd('DATA')).code, 354);
    return c.cmd(`${received(n)}From: ehr@lab.test\r\nSubject: loop\r\n\r\nbody\r\n.`);
  };
  const r = await send(4);
  t.is(r.code, 554);
  t.is(r.enhanced, '5.4.6');
  t.is(r.lines[0], REPLIES.mailLoop.text);
  const ev = await waitEvent(gw, 'rejected', (e) => e.details['reason'] === 'mailLoop');
  t.is(ev.details['received'], 4);
  t.true(nothingAccepted(gw));
  const ok = await send(2);
  t.is(ok.code, 250, ok.raw);
});

test('a header block that arrives in several pieces is read whole (loop count, Message-ID); a Received line in the body does not count', async (t) => {
  const { gw, port } = await gateway(t, { limits: { maxReceivedHeaders: 3 } });
  const { c } = await ehloClient(port('relay'));
  t.teardown(() => c.close());
  const hop = (i: number) => `Received: from hop${i}.test by hop${i + 1}.test; Sat, 28 Nov 2026 10:00:0${i} +0000\r\n`;
  // each piece is its own socket read: the listener sees the header block in four data chunks
  const send = async (pieces: string[]) => {
    t.is((await c.cmd('MAIL FROM:<ehr@lab.test>')).code, 250);
    t.is((await c.cmd('RCPT TO:<patient@example.net>')).code, 250);
    t.is((await c.cmd('DATA')).code, 354);
    for (const p of pieces) {
      c.write(p);
      await new Promise((r) => setTimeout(r, 60));
    }
    return c.read();
  };
  const tail = ['body line\r\n'.repeat(200) + '.\r\n'];
  // four Received headers, the last two after the first piece: a mail loop
  const loop = await send([hop(0) + hop(1), hop(2) + 'From: ehr@lab.test\r\n', hop(3) + 'Subject: pieces\r\n\r', '\n' + 'x'.repeat(100) + '\r\n', ...tail]);
  t.is(loop.code, 554, loop.raw);
  t.is(loop.enhanced, '5.4.6');
  const ev = await waitEvent(gw, 'rejected', (e) => e.details['reason'] === 'mailLoop');
  t.is(ev.details['received'], 4);
  t.true(nothingAccepted(gw));
  // two Received headers and a Message-ID in the third piece: accepted and recorded; the Received line after
  // the blank line is body (counting it would make three, a loop)
  const ok = await send([hop(0), hop(1) + 'From: ehr@lab.test\r\nSubject: pieces\r\n', 'Message-ID: <pieces.1@lab.test>\r\n\r', '\nReceived: from body.test by body2.test; Sat, 28 Nov 2026 10:00:09 +0000\r\n', ...tail]);
  t.is(ok.code, 250, ok.raw);
  const received = await waitEvent(gw, 'received', (e) => e.messageId === 'pieces.1@lab.test');
  t.is(received.sender, 'ehr@lab.test');
});

test('a third concurrent connection from one IP gets 421 4.7.0 when maxConnectionsPerIp is 2; a slot frees on close', async (t) => {
  const { gw, port } = await gateway(t, { listen: listen({ maxConnectionsPerIp: 2 }) });
  const a = await rawConnect(port('relay'));
  const b = await rawConnect(port('relay'));
  t.teardown(() => { a.close(); b.close(); });
  t.is((await a.read()).code, 220);
  t.is((await b.read()).code, 220);
  const c = await rawConnect(port('relay'));
  t.teardown(() => c.close());
  const r = await c.read();
  t.is(r.code, 421);
  t.is(r.enhanced, '4.7.0');
  t.is(r.lines[0], REPLIES.tooManyConnections.text);
  await c.closed;
  const ev = await waitEvent(gw, 'rejected', (e) => e.details['reason'] === 'tooManyConnections');
  t.is(ev.details['reply'], '421 4.7.0');
  a.close();
  await a.closed;
  // the freed slot is usable again (the server notices the close a moment later)
  let d: Awaited<ReturnType<typeof rawConnect>> | null = null;
  for (let i = 0; i < 40 && !d; i++) {
    const x = await rawConnect(port('relay'));
    if ((await x.read()).code === 220) d = x;
    else { x.close(); await new Promise((res) => setTimeout(res, 25)); }
  }
  t.truthy(d, 'a connection is accepted again after one closes');
  t.teardown(() => d?.close());
});

test('the per-IP limit counts each listener on its own', async (t) => {
  const { port } = await gateway(t, { listen: listen({ maxConnectionsPerIp: 2 }) });
  const subs = await Promise.all([rawConnect(port('submission')), rawConnect(port('submission'))]);
  t.teardown(() => subs.forEach((s) => s.close()));
  for (const s of subs) t.is((await s.read()).code, 220);
  const r = await rawConnect(port('relay'));
  t.teardown(() => r.close());
  const g = await r.read();
  t.is(g.code, 220, `relay limit is its own: ${g.raw}`);
});

test('DATA is answered "250 2.0.0 Ok: queued as <id>" and the message reaches the next hop', async (t) => {
  const sink = await startSink();
  t.teardown(() => sink.close());
  const { gw, port } = await gateway(t, {
    outbound: { routes: { 'example.net': `127.0.0.1:${sink.port}` }, tls: { '*': 'verify', 'example.net': 'none' }, caFile: null, retry: { schedule: ['1s'], maxAge: '1h' } },
  });
  const r = await swaks(['--server', '127.0.0.1', '--port', String(port('relay')), '--from', 'ehr@lab.test', '--to', 'patient@example.net',
    '--header', 'Subject: lab result ready', '--body', 'accepted-body-marker']);
  t.is(r.code, 0, r.out);
  const m = /^<- {2}250 2\.0\.0 Ok: queued as ([0-9A-Z]{20})\r?$/m.exec(r.out);
  t.truthy(m, r.out);
  const id = m![1]!;
  const got = await sink.waitFor(1, 10_000);
  t.true(got[0]!.bytes.toString().includes('accepted-body-marker'));
  t.regex(got[0]!.bytes.toString(), new RegExp(`with ESMTP id ${id}`));
  const rec = events(gw, 'received').find((e) => e.queueId === id);
  t.truthy(rec, 'the received event names the queue id from the reply');
  t.true(listEntries(gw.store).every((e) => e.queueId === id));
});
