// The portal over real HTTPS: the whole recipient flow (landing, code, wrong code, right code, view, attachment,
// reply), the lockout, code expiry and single use, withdrawn and expired messages, security headers, CSRF,
// session cookies, sanitised HTML, rate limits and a passphrase.
import test from 'ava';
import { revoke, hasPortalContent, getPortal } from '../../src/portal/store.js';
import { startTestPortal, dirContains, ATTACHMENT, type TestPortal } from './kit.js';
import { csrfOf, type PortalClient, type Res } from './client.js';

async function openPortal(t: { teardown(fn: () => Promise<void> | void): void }, over = {}) {
  const p = await startTestPortal(over);
  t.teardown(() => p.close());
  return p;
}

/** Landing -> code -> verify with the captured code; returns the client with its session. */
async function signIn(p: TestPortal, token: string, c: PortalClient = p.client(), extra: Record<string, string> = {}): Promise<{ c: PortalClient; verify: Res }> {
  const landing = await c.get(`/m/${token}`);
  const sent = await c.post(`/m/${token}/code`, { csrf: csrfOf(landing.text) });
  if (sent.status !== 200) throw new Error(`code request: ${sent.status}`);
  const verify = await c.post(`/m/${token}/verify`, { csrf: csrfOf(sent.text), code: p.codes.at(-1)!.code, ...extra });
  return { c, verify };
}

const wrongCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

test('the full flow: landing, code, wrong code, right code, view, attachment, reply', async (t) => {
  const p = await openPortal(t);
  const m = await p.add();
  const c = p.client();

  const landing = await c.get(`/m/${m.token}`);
  t.is(landing.status, 200);
  t.regex(landing.text, /Email me a code/);
  t.regex(landing.text, /p\*\*\*@example\.org/, 'the recipient address, masked');
  t.false(landing.text.includes(m.marker), 'no content before the code');
  t.false(landing.text.includes('Dr Smith'), 'not even the sender');
  t.regex(landing.text, /<html lang="en">/);
  t.regex(landing.text, /<title>Secure message<\/title>/);

  const sent = await c.post(`/m/${m.token}/code`, { csrf: csrfOf(landing.text) });
  t.is(sent.status, 200);
  t.regex(sent.text, /We emailed a code/);
  t.is(p.codes.length, 1);
  t.like(p.codes[0], { recipient: 'pat@example.org', portalId: m.id });
  const code = p.codes[0]!.code;
  t.regex(code, /^\d{6}$/);
  t.false(sent.text.includes(code), 'the code is not in the page');

  const wrong = await c.post(`/m/${m.token}/verify`, { csrf: csrfOf(sent.text), code: wrongCode(code) });
  t.is(wrong.status, 400);
  t.regex(wrong.text, /That code is not right\. You can try 2 more times/);
  t.false(wrong.text.includes(m.marker));
  t.is(wrong.setCookies.filter((s) => s.startsWith('__Host-portal-session')).length, 0, 'no session for a wrong code');

  const right = await c.post(`/m/${m.token}/verify`, { csrf: csrfOf(wrong.text), code });
  t.is(right.status, 303);
  t.is(right.headers['location'], `/m/${m.token}/view`);

  const view = await c.get(`/m/${m.token}/view`);
  t.is(view.status, 200);
  t.true(view.text.includes(`<b>${m.marker}</b> HTML part.`), 'the message (its HTML part) is shown');
  t.regex(view.text, /<dd>Dr Smith &lt;dr\.smith@clinic\.example&gt;<\/dd>/);
  t.regex(view.text, /Your lab results/);
  t.regex(view.text, /15 January 2026/);
  t.regex(view.text, /<title>Secure message<\/title>/, 'the title names nothing of the message');
  const link = /href="(\/m\/[^"]+\/attachment\/(\d+))"[^>]*>results\.pdf</.exec(view.text);
  t.truthy(link, 'the attachment is listed');

  const att = await c.get(link![1]!);
  t.is(att.status, 200);
  t.true(att.body.equals(ATTACHMENT), 'attachment bytes identical to the original');
  t.is(att.headers['content-disposition'], `attachment; filename="results.pdf"; filename*=UTF-8''results.pdf`);
  t.is(att.headers['x-content-type-options'], 'nosniff');
  t.is(att.headers['content-type'], 'application/pdf');

  const replied = await c.post(`/m/${m.token}/reply`, { csrf: csrfOf(view.text), text: 'Thank you,\r\nsee you Tuesday.' });
  t.is(replied.status, 303);
  t.is(replied.headers['location'], `/m/${m.token}/view?replied=1`);
  t.deepEqual(p.replies, [{ from: 'pat@example.org', to: 'dr.smith@clinic.example', subject: 'Re: Your lab results', text: 'Thank you,\nsee you Tuesday.', inReplyTo: '<orig-123@clinic.example>' }]);
  const after = await c.get(`/m/${m.token}/view?replied=1`);
  t.regex(after.text, /Your reply was sent/);

  t.deepEqual(p.events.map((e) => e.event), ['portal-code-sent', 'portal-code-failed', 'portal-opened', 'portal-attachment', 'portal-replied']);
  t.true(p.events.every((e) => e.portalId === m.id && e.recipient === 'pat@example.org'));
  t.like(p.events[1]!.details, { reason: 'wrong', attempts: 1 });
  const evidence = JSON.stringify(p.events) + p.logs.join('');
  for (const secret of [m.marker, code, m.token, 'results.pdf', 'Your lab results', 'see you Tuesday']) t.false(evidence.includes(secret), `audit and log hold no ${secret}`);
  t.true(p.logs.length >= 5 && p.logs.some((l) => l.includes(m.id)), 'the log did record the events by portal id');
  t.false(p.logs.join('').includes('pat@example.org'), 'the log holds no address');
  t.is(getPortal(p.store, m.id)!.opened, 1);
  await p.store.durable();
  t.deepEqual(dirContains(p.dataDir, m.marker), [], 'the data directory holds no clear text of the message');
  t.deepEqual(dirContains(p.dataDir, 'see you Tuesday'), []);
});

test('three wrong codes lock the message until the lock runs out', async (t) => {
  const p = await openPortal(t);
  const m = await p.add();
  const c = p.client();
  const landing = await c.get(`/m/${m.token}`);
  let page = await c.post(`/m/${m.token}/code`, { csrf: csrfOf(landing.text) });
  const code = p.codes[0]!.code;
  for (const left of [2, 1]) {
    page = await c.post(`/m/${m.token}/verify`, { csrf: csrfOf(page.text), code: wrongCode(code) });
    t.is(page.status, 400);
    t.regex(page.text, new RegExp(`try ${left} more time`));
  }
  const csrf = csrfOf(page.text);
  const third = await c.post(`/m/${m.token}/verify`, { csrf, code: wrongCode(code) });
  t.is(third.status, 423);
  t.regex(third.text, /locked/);
  t.regex(third.text, /try again at 09:15 UTC/, 'the clock is 09:00 UTC, the lock 15 minutes');
  t.deepEqual(p.events.map((e) => e.event), ['portal-code-sent', 'portal-code-failed', 'portal-code-failed', 'portal-code-failed', 'portal-locked']);

  const withRight = await c.post(`/m/${m.token}/verify`, { csrf, code });
  t.is(withRight.status, 423, 'the right code is refused while locked');
  t.false(withRight.setCookies.some((s) => s.startsWith('__Host-portal-session')));
  t.is((await c.get(`/m/${m.token}`)).status, 423, 'the landing page says locked');
  t.is((await c.post(`/m/${m.token}/code`, { csrf })).status, 423, 'no new code while locked');
  t.is(p.codes.length, 1);

  p.clock.advance(14 * 60_000);
  t.is((await c.get(`/m/${m.token}`)).status, 423, 'still locked a minute before');
  p.clock.advance(60_000);
  const again = await c.get(`/m/${m.token}`);
  t.is(again.status, 200);
  const sent = await c.post(`/m/${m.token}/code`, { csrf: csrfOf(again.text) });
  t.is(p.codes.length, 2);
  t.is((await c.post(`/m/${m.token}/verify`, { csrf: csrfOf(sent.text), code: p.codes[1]!.code })).status, 303, 'a new code works once the lock ran out');
  t.is((await c.post(`/m/${m.token}/verify`, { csrf, code })).status, 400, 'the code from before the lock is void');
});

test('a code expires after its lifetime', async (t) => {
  const p = await openPortal(t);
  const m = await p.add();
  const c = p.client();
  const landing = await c.get(`/m/${m.token}`);
  const sent = await c.post(`/m/${m.token}/code`, { csrf: csrfOf(landing.text) });
  t.regex(sent.text, /for 10 minutes/);
  p.clock.advance(10 * 60_000);
  const late = await c.post(`/m/${m.token}/verify`, { csrf: csrfOf(sent.text), code: p.codes[0]!.code });
  t.is(late.status, 400);
  t.regex(late.text, /That code has expired/);
  t.false(late.setCookies.some((s) => s.startsWith('__Host-portal-session')));
  t.is((await c.get(`/m/${m.token}/view`)).status, 303, 'no session');
  t.like(p.events.at(-1), { event: 'portal-code-failed', details: { reason: 'expired' } });
});

test('a code opens one session only', async (t) => {
  const p = await openPortal(t);
  const m = await p.add();
  const { verify } = await signIn(p, m.token);
  t.is(verify.status, 303);
  const other = p.client();
  const page = await other.get(`/m/${m.token}/verify`);
  const reuse = await other.post(`/m/${m.token}/verify`, { csrf: csrfOf(page.text), code: p.codes[0]!.code });
  t.is(reuse.status, 400);
  t.regex(reuse.text, /already used/);
  t.is((await other.get(`/m/${m.token}/view`)).status, 303);
});

test('a withdrawn message shows a clear page and its content is gone, even for an open session', async (t) => {
  const p = await openPortal(t);
  const m = await p.add();
  const { c } = await signIn(p, m.token);
  t.is((await c.get(`/m/${m.token}/view`)).status, 200);
  t.true(await revoke(p.store, m.id, p.clock.now()));
  t.false(hasPortalContent(p.store, m.id));
  for (const path of [`/m/${m.token}`, `/m/${m.token}/view`, `/m/${m.token}/attachment/1`]) {
    const r = await c.get(path);
    t.is(r.status, 410, path);
    t.regex(r.text, /This message was withdrawn/);
    t.false(r.text.includes(m.marker));
  }
  t.like(p.events.at(-1), { event: 'portal-expired-view', details: { state: 'revoked' } });
});

test('an expired message shows a clear page and its content is destroyed', async (t) => {
  const p = await openPortal(t);
  const m = await p.add({ expiresInMs: 86_400_000 });
  const c = p.client();
  t.is((await c.get(`/m/${m.token}`)).status, 200);
  t.true(hasPortalContent(p.store, m.id));
  p.clock.advance(86_400_000);
  const r = await c.get(`/m/${m.token}`);
  t.is(r.status, 410);
  t.regex(r.text, /This message has expired/);
  t.false(hasPortalContent(p.store, m.id), 'the sealed bytes were removed');
  t.is(getPortal(p.store, m.id)!.expiredAt, p.clock.now());
  t.deepEqual(p.events.map((e) => e.event), ['portal-expired', 'portal-expired-view']);
  const unknown = await c.get(`/m/${'A'.repeat(43)}`);
  t.is(unknown.status, 404);
  t.regex(unknown.text, /This link does not work/);
});

const HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

test('security headers on every kind of response', async (t) => {
  const p = await openPortal(t, { limits: { messageCodes: { limit: 1, windowMs: 60_000 } } });
  const m = await p.add();
  const c = p.client();
  const landing = await c.get(`/m/${m.token}`);
  const responses: [string, Res][] = [
    ['landing', landing],
    ['css', await c.get('/static/portal.css')],
    ['unknown route', await c.get('/nope')],
    ['unknown token', await c.get(`/m/${'B'.repeat(43)}`)],
    ['redirect', await c.get(`/m/${m.token}/view`)],
    ['csrf refusal', await c.post(`/m/${m.token}/code`, {})],
    ['code sent', await c.post(`/m/${m.token}/code`, { csrf: csrfOf(landing.text) })],
    ['rate limited', await c.post(`/m/${m.token}/code`, { csrf: csrfOf(landing.text) })],
    ['bad media type', await c.send('POST', `/m/${m.token}/code`, { a: '1' }, { 'content-type': 'text/xml' })],
  ];
  t.deepEqual(responses.map(([, r]) => r.status), [200, 200, 404, 404, 303, 403, 200, 429, 415]);
  for (const [what, r] of responses) for (const [h, v] of Object.entries(HEADERS)) t.is(r.headers[h], v, `${what}: ${h}`);
  t.regex(String(responses[1]![1].headers['content-type']), /^text\/css/);
  t.regex(responses[1]![1].text, /font-family/);
  t.truthy(responses[7]![1].headers['retry-after']);
  t.false(landing.text.includes('<script'), 'no script in our pages');
  t.false(/ style=/.test(landing.text), 'no inline style in our pages');
});

test('CSRF: forms are refused without the token, with a token of another message or cookie, and from another origin', async (t) => {
  const p = await openPortal(t);
  const a = await p.add();
  const b = await p.add();
  const c = p.client();
  const landingA = await c.get(`/m/${a.token}`);
  const tokenA = csrfOf(landingA.text);
  t.is((await c.post(`/m/${a.token}/code`, {})).status, 403, 'no token');
  t.is((await c.post(`/m/${a.token}/code`, { csrf: 'x'.repeat(43) })).status, 403, 'a made-up token');
  t.is((await c.post(`/m/${b.token}/code`, { csrf: tokenA })).status, 403, "message A's token on message B");
  const stranger = p.client();
  t.is((await stranger.post(`/m/${a.token}/code`, { csrf: tokenA })).status, 403, 'the token without its cookie');
  t.is((await c.post(`/m/${a.token}/code`, { csrf: tokenA }, { origin: 'https://evil.example' })).status, 403, 'another origin');
  t.is(p.codes.length, 0, 'no code was sent by any of them');
  t.is((await c.post(`/m/${a.token}/code`, { csrf: tokenA }, { origin: 'https://portal.example' })).status, 200, 'the same request with the token passes');
  t.is(p.codes.length, 1);

  const { c: s } = await signIn(p, b.token);
  const view = await s.get(`/m/${b.token}/view`);
  t.is((await s.post(`/m/${b.token}/reply`, { text: 'hello' })).status, 403, 'a reply without the token');
  t.is(p.replies.length, 0);
  t.is((await s.post(`/m/${b.token}/reply`, { csrf: csrfOf(view.text), text: 'hello' })).status, 303);
  t.is(p.replies.length, 1);
});

test('the session cookie: HttpOnly, Secure, SameSite=Strict, host-only, bound to one message, expiring', async (t) => {
  const p = await openPortal(t, { sessionMs: 20 * 60_000 });
  const a = await p.add();
  const b = await p.add();
  const { c, verify } = await signIn(p, a.token);
  const sc = verify.setCookies.find((s) => s.startsWith('__Host-portal-session='));
  t.truthy(sc);
  const attrs = sc!.split(';').map((s) => s.trim().toLowerCase());
  for (const want of ['httponly', 'secure', 'samesite=strict', 'path=/', 'max-age=1200']) t.true(attrs.includes(want), `${want} in ${sc}`);
  t.false(attrs.some((x) => x.startsWith('domain=')), 'no Domain: host-only');
  t.regex(c.jar.get('__Host-portal-session')!, /^[A-Za-z0-9_-]{43}$/);
  const csrfCookie = (await p.client().get(`/m/${a.token}`)).setCookies.find((s) => s.startsWith('__Host-portal-csrf='))!;
  t.regex(csrfCookie, /HttpOnly/);
  t.regex(csrfCookie, /Secure/);
  t.regex(csrfCookie, /SameSite=Strict/);

  t.is((await c.get(`/m/${a.token}/view`)).status, 200);
  const cross = await c.get(`/m/${b.token}/view`);
  t.is(cross.status, 303, "message A's session does not open message B");
  t.is(cross.headers['location'], `/m/${b.token}`);
  t.is((await p.client().get(`/m/${a.token}/view`)).status, 303, 'no cookie, no view');
  const forged = p.client();
  forged.jar.set('__Host-portal-session', 'A'.repeat(43));
  t.is((await forged.get(`/m/${a.token}/view`)).status, 303, 'a made-up session id');
  p.clock.advance(20 * 60_000);
  t.is((await c.get(`/m/${a.token}/view`)).status, 303, 'the session expired on the server');
});

test('the message HTML is sanitised: no script, no remote image, frame, form or style; links without referrer', async (t) => {
  const p = await openPortal(t);
  const m = await p.add();
  const { c } = await signIn(p, m.token);
  const view = await c.get(`/m/${m.token}/view`);
  t.is(view.status, 200);
  const body = view.text;
  t.true(body.includes(m.marker), 'the page does show the message');
  for (const bad of ['<script', 'pwned-script', 'tracker.example', 'evil.example', 'onclick', 'steal()', '<iframe', '<form action="https', 'name="ssn"', 'style=', '<style']) {
    t.false(body.includes(bad), `the page holds no ${bad}`);
  }
  t.regex(body, /<a href="https:\/\/clinic\.example\/info" rel="noopener noreferrer" target="_blank">clinic info<\/a>/);
  t.regex(body, /<p>styled<\/p>/, 'the styled paragraph kept its text');
});

test('a text-only message is shown as text, escaped', async (t) => {
  const p = await openPortal(t);
  const m = await p.add({ html: false });
  const { c } = await signIn(p, m.token);
  const view = await c.get(`/m/${m.token}/view`);
  t.regex(view.text, new RegExp(`<pre class="message-text">Dear patient, ${m.marker} text part\\.`));
});

test('rate limits: codes per message, tries per message, requests per IP', async (t) => {
  const p = await openPortal(t, { limits: { messageCodes: { limit: 2, windowMs: 60_000 }, messageVerifies: { limit: 2, windowMs: 60_000 }, ipRequests: { limit: 12, windowMs: 60_000 } }, maxAttempts: 5 });
  const m = await p.add();
  const c = p.client();
  const landing = await c.get(`/m/${m.token}`);
  const csrf = csrfOf(landing.text);
  t.is((await c.post(`/m/${m.token}/code`, { csrf })).status, 200);
  t.is((await c.post(`/m/${m.token}/code`, { csrf })).status, 200);
  const third = await c.post(`/m/${m.token}/code`, { csrf });
  t.is(third.status, 429);
  t.regex(third.text, /too many requests/i);
  t.is(p.codes.length, 2, 'the third code was not sent');
  t.is((await c.post(`/m/${m.token}/verify`, { csrf, code: '000000x' })).status, 400);
  t.is((await c.post(`/m/${m.token}/verify`, { csrf, code: '000000x' })).status, 400);
  t.is((await c.post(`/m/${m.token}/verify`, { csrf, code: p.codes[1]!.code })).status, 429, 'tries on the message are limited too');
  t.true(p.events.some((e) => e.event === 'portal-rate-limited' && e.details['what'] === 'verify'));
  // 7 requests so far from this IP
  for (let i = 0; i < 5; i++) t.is((await c.get('/static/portal.css')).status, 200);
  t.is((await c.get('/static/portal.css')).status, 429, 'the 13th request from the IP within the minute');
  p.clock.advance(60_000);
  t.is((await c.get('/static/portal.css')).status, 200, 'a new window');
});

test('a passphrase set by the sender is asked for and checked', async (t) => {
  const p = await openPortal(t);
  const m = await p.add({ passphrase: 'blue heron 42' });
  const c = p.client();
  const landing = await c.get(`/m/${m.token}`);
  const sent = await c.post(`/m/${m.token}/code`, { csrf: csrfOf(landing.text) });
  t.regex(sent.text, /<label for="passphrase">Passphrase<\/label>/);
  const code = p.codes[0]!.code;
  const bad = await c.post(`/m/${m.token}/verify`, { csrf: csrfOf(sent.text), code, passphrase: 'blue heron 41' });
  t.is(bad.status, 400);
  t.regex(bad.text, /The code or the passphrase is not right/);
  const none = await c.post(`/m/${m.token}/verify`, { csrf: csrfOf(bad.text), code });
  t.is(none.status, 400);
  const ok = await c.post(`/m/${m.token}/verify`, { csrf: csrfOf(none.text), code, passphrase: 'blue heron 42' });
  t.is(ok.status, 303);
  t.is((await c.get(`/m/${m.token}/view`)).status, 200);
});

test('pages are accessible: every visible input has a label, one h1, lang set', async (t) => {
  const p = await openPortal(t);
  const m = await p.add({ passphrase: 'pw' });
  const c = p.client();
  const landing = await c.get(`/m/${m.token}`);
  const verify = await c.post(`/m/${m.token}/code`, { csrf: csrfOf(landing.text) });
  const opened = await c.post(`/m/${m.token}/verify`, { csrf: csrfOf(verify.text), code: p.codes[0]!.code, passphrase: 'pw' });
  t.is(opened.status, 303);
  const view = await c.get(`/m/${m.token}/view`);
  for (const [name, page] of [['landing', landing], ['verify', verify], ['view', view]] as const) {
    t.regex(page.text, /<html lang="en">/, name);
    t.is(page.text.match(/<h1>/g)?.length, 1, `${name}: one h1`);
    t.regex(page.text, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    const fields = [...page.text.matchAll(/<(input|textarea)\b([^>]*)>/g)].filter((x) => !/type="hidden"/.test(x[2]!));
    for (const f of fields) {
      const id = /id="([^"]+)"/.exec(f[2]!)?.[1];
      t.truthy(id, `${name}: a field without id`);
      t.regex(page.text, new RegExp(`<label for="${id}">`), `${name}: label for ${id}`);
    }
    if (name !== 'landing') t.true(fields.length > 0, `${name} has fields`);
  }
});

test('a tampered stored message is refused: an error page, no content, a log line without content', async (t) => {
  const p = await openPortal(t);
  const m = await p.add();
  const { c } = await signIn(p, m.token);
  const sealed = Buffer.from(p.store.messages.getSealed(`portal:${m.id}`)!);
  sealed[sealed.length - 10]! ^= 0x01;
  await p.store.messages.putSealed(`portal:${m.id}`, sealed);
  const view = await c.get(`/m/${m.token}/view`);
  t.is(view.status, 500);
  t.regex(view.text, /Something went wrong/);
  t.false(view.text.includes(m.marker));
  t.is((await c.get(`/m/${m.token}/attachment/0`)).status, 500);
  t.true(p.logs.some((l) => l.includes('SEALED_TAMPERED')), 'the log names the error code');
  for (const [h, v] of Object.entries(HEADERS)) t.is(view.headers[h], v, h);
});
