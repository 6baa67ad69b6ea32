// What each listener offers and demands before any mail moves: EHLO keywords, STARTTLS, where AUTH appears,
// the TLS versions accepted (TLS 1.1 refused by the server, not just by our client: a control server proves
// the same client can speak TLS 1.1), and a greeting without smtp-server's 100 ms early-talker pause.
import test from 'ava';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type ConnectionOptions } from 'node:tls';
import { execFile } from 'node:child_process';
import { ehloClient, keywords } from '../helpers/raw-smtp.js';
import { selfSignedPem } from '../../src/listener/self-signed.js';
import { gateway, USER, PASSWORD } from './kit.js';

const plain = (user: string, pw: string) => Buffer.from(`\0${user}\0${pw}`).toString('base64');
const TLS11: ConnectionOptions = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0', rejectUnauthorized: false };

function tlsHandshake(port: number, opts: ConnectionOptions): Promise<{ ok: true; protocol: string | null } | { ok: false; code: string; message: string }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ...opts }, () => {
      const protocol = s.getProtocol();
      s.destroy();
      resolve({ ok: true, protocol });
    });
    s.on('error', (e: NodeJS.ErrnoException) => { s.destroy(); resolve({ ok: false, code: e.code ?? '', message: e.message }); });
  });
}

function openssl(args: string[], input = 'QUIT\r\n'): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = execFile('openssl', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr });
    });
    p.stdin!.end(input);
  });
}

test('EHLO on every listener advertises ENHANCEDSTATUSCODES, PIPELINING, 8BITMIME, SMTPUTF8 and SIZE', async (t) => {
  const { gw, port } = await gateway(t, { limits: { maxMessageSize: '10MB' } });
  for (const name of ['submission', 'smtps', 'relay'] as const) {
    const { c, greeting, ehlo } = await ehloClient(port(name), { tls: name === 'smtps' });
    t.teardown(() => c.close());
    t.is(greeting.code, 220);
    t.regex(greeting.lines[0]!, /^gw\.phigate\.test ESMTP/);
    t.is(ehlo.code, 250);
    const kw = keywords(ehlo);
    for (const k of ['ENHANCEDSTATUSCODES', 'PIPELINING', '8BITMIME', 'SMTPUTF8', 'SIZE']) t.true(kw.includes(k), `${name} advertises ${k}: ${ehlo.raw}`);
    t.true(ehlo.lines.includes(`SIZE ${gw.config.limits.maxMessageSize}`), `${name} SIZE carries the limit`);
    t.is(gw.config.limits.maxMessageSize, 10 * 1024 * 1024);
  }
});

test('submission offers STARTTLS and AUTH only after it; smtps offers AUTH at once; relay offers STARTTLS and never AUTH', async (t) => {
  const { port } = await gateway(t);
  // submission
  const sub = await ehloClient(port('submission'));
  t.teardown(() => sub.c.close());
  t.true(keywords(sub.ehlo).includes('STARTTLS'));
  t.false(keywords(sub.ehlo).includes('AUTH'), `no AUTH in cleartext: ${sub.ehlo.raw}`);
  t.is((await sub.c.cmd('STARTTLS')).code, 220);
  const tls = await sub.c.startTls();
  t.regex(tls.getProtocol() ?? '', /^TLSv1\.[23]$/);
  const after = await sub.c.cmd('EHLO client.test');
  t.true(after.lines.includes('AUTH PLAIN LOGIN'), after.raw);
  t.false(keywords(after).includes('STARTTLS'));
  const auth = await sub.c.cmd(`AUTH PLAIN ${plain(USER, PASSWORD)}`);
  t.is(auth.code, 235);
  t.is(auth.enhanced, '2.7.0');
  // smtps
  const s = await ehloClient(port('smtps'), { tls: true });
  t.teardown(() => s.c.close());
  t.true(s.ehlo.lines.includes('AUTH PLAIN LOGIN'), s.ehlo.raw);
  t.false(keywords(s.ehlo).includes('STARTTLS'));
  // relay
  const r = await ehloClient(port('relay'));
  t.teardown(() => r.c.close());
  t.true(keywords(r.ehlo).includes('STARTTLS'));
  t.false(keywords(r.ehlo).includes('AUTH'));
  const rauth = await r.c.cmd(`AUTH PLAIN ${plain(USER, PASSWORD)}`);
  t.true(rauth.code >= 500, `AUTH is not a relay command: ${rauth.raw}`);
  t.is((await r.c.cmd('STARTTLS')).code, 220);
  await r.c.startTls();
  const rafter = await r.c.cmd('EHLO client.test');
  t.false(keywords(rafter).includes('AUTH'), rafter.raw);
  const rauth2 = await r.c.cmd(`AUTH PLAIN ${plain(USER, PASSWORD)}`);
  t.true(rauth2.code >= 500, `no AUTH on relay over TLS either: ${rauth2.raw}`);
});

test('TLS 1.1 is refused by the server on smtps and submission STARTTLS; TLS 1.2 works', async (t) => {
  const { port } = await gateway(t);

  // control: the same client settings complete a TLS 1.1 handshake with a server that allows it
  const pair = selfSignedPem('localhost');
  const control = createTlsServer({ key: pair.key, cert: pair.cert, minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }, (s) => s.end());
  control.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => control.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => control.close(() => r())));
  const ctl = await tlsHandshake((control.address() as { port: number }).port, TLS11);
  t.deepEqual(ctl, { ok: true, protocol: 'TLSv1.1' }, 'our TLS 1.1 client works against a permissive server');

  const r11 = await tlsHandshake(port('smtps'), TLS11);
  t.false(r11.ok, 'smtps refuses TLS 1.1');
  t.regex(r11.ok ? '' : `${r11.code} ${r11.message}`, /PROTOCOL_VERSION|protocol version/i, 'refused by the server with a protocol_version alert');
  const r12 = await tlsHandshake(port('smtps'), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', rejectUnauthorized: false });
  t.deepEqual(r12, { ok: true, protocol: 'TLSv1.2' });

  // the real openssl client on submission with STARTTLS
  const base = ['s_client', '-connect', `127.0.0.1:${port('submission')}`, '-starttls', 'smtp', '-cipher', 'DEFAULT:@SECLEVEL=0'];
  const o11 = await openssl([...base, '-tls1_1']);
  t.not(o11.code, 0, o11.out);
  t.regex(o11.out, /alert protocol version|unsupported protocol|wrong version/i);
  const o12 = await openssl([...base, '-tls1_2']);
  t.is(o12.code, 0, o12.out);
  t.regex(o12.out, /Protocol\s*:\s*TLSv1\.2/);
  const o11s = await openssl(['s_client', '-connect', `127.0.0.1:${port('smtps')}`, '-cipher', 'DEFAULT:@SECLEVEL=0', '-tls1_1']);
  t.not(o11s.code, 0, o11s.out);
});

test('the 220 greeting arrives well under 100 ms (no early-talker pause)', async (t) => {
  const { port } = await gateway(t);
  const greetingMs = (p: number) => new Promise<number>((resolve, reject) => {
    let t0 = 0;
    const s = netConnect({ host: '127.0.0.1', port: p }, () => { t0 = performance.now(); });
    s.once('data', (d) => {
      const ms = performance.now() - t0;
      s.destroy();
      if (!d.toString().startsWith('220 ')) reject(new Error(`not a greeting: ${d}`));
      else resolve(ms);
    });
    s.on('error', reject);
  });
  for (const name of ['relay', 'submission'] as const) {
    await greetingMs(port(name)); // warm-up
    const times: number[] = [];
    for (let i = 0; i < 7; i++) times.push(await greetingMs(port(name)));
    times.sort((a, b) => a - b);
    const median = times[3]!;
    t.log(`${name} greeting ms: ${times.map((x) => x.toFixed(1)).join(' ')}`);
    t.true(median < 80, `${name} median greeting ${median.toFixed(1)} ms`);
  }
});
