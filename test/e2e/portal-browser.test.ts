// The portal in a real browser (Debian's Chromium driven by playwright-core) against the running gateway: a message
// sent by swaks whose policy says `encrypt: [portal]`; the test reads the notification at the patient's SMTP sink,
// opens the link, asks for a code (read at the sink), enters a wrong code three times (the message locks), waits
// out the lock, enters a right code, reads the message, downloads the attachment (bytes compared with the file),
// replies (the reply reaches the clinic's sink), and finally sees a link that expired while it was open. The
// browser trusts the portal's test certificate by its SPKI pin only (no ignoreHTTPSErrors), and the test checks
// that no page logs a console error and that nothing is requested from any origin other than the portal.
// A screenshot of the message view goes to test-artifacts/portal-message.png; with PHIGATE_DOCS_SCREENSHOT=1 it is
// also written to docs/portal-message.png (the README's picture; the data shown is synthetic).
import test from 'ava';
import { createHash, X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { chromium } from 'playwright-core';
import { freePort, makeGatewayDir, ROOT, startTestGateway } from '../helpers/gateway.js';
import { startSink, type Sink } from '../helpers/sink.js';
import { makeTestCa } from '../helpers/ca.js';
import { swaks } from '../helpers/swaks.js';
import { queryAudit } from '../../src/audit/query.js';

const CHROMIUM = '/usr/bin/chromium';
const ca = makeTestCa(['localhost']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The base64 SHA-256 of the certificate's SubjectPublicKeyInfo: what --ignore-certificate-errors-spki-list takes. */
function spkiPin(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** The first message at the sink, from index `from` on, whose bytes match `re`; waits (bounded) for it. */
async function nextAt(sink: Sink, from: number, re: RegExp, timeoutMs = 20_000): Promise<{ index: number; match: RegExpExecArray }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (let i = from; i < sink.messages.length; i++) {
      const m = re.exec(sink.messages[i]!.bytes.toString('utf8'));
      if (m) return { index: i, match: m };
    }
    if (Date.now() > end) throw new Error(`no message matching ${re} at the sink after ${timeoutMs} ms (${sink.messages.length} messages)`);
    await sleep(100);
  }
}

test('portal in a real browser: code by mail, lockout, read, download, reply, expired link', async (t) => {
  if (!existsSync(CHROMIUM)) return t.fail(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
  const started = Date.now();
  const patients = await startSink();
  const clinic = await startSink();
  t.teardown(async () => { await patients.close(); await clinic.close(); });

  // the gateway, its portal on a port chosen beforehand so that the links carry the origin the browser uses
  const portalPort = await freePort();
  const origin = `https://localhost:${portalPort}`;
  const d = makeGatewayDir({
    outbound: { routes: { 'example.org': `127.0.0.1:${patients.port}`, 'clinic.test': `127.0.0.1:${clinic.port}` }, tls: { '*': 'may' }, caFile: null, retry: { schedule: ['10m'], maxAge: '1h' } },
  });
  writeFileSync(join(d.dir, 'certs', 'server.key'), ca.serverKey);
  writeFileSync(join(d.dir, 'certs', 'server.crt'), ca.serverCert);
  mkdirSync(join(d.dir, 'policies'));
  writeFileSync(join(d.dir, 'policies', '10.yaml'), 'rules:\n  - id: phi-portal\n    when: { phi: true }\n    then: { encrypt: [portal] }\n  - id: other\n    then: { deliver: may }\n');
  const cfg = d.config;
  cfg['portal'] = {
    ...cfg['portal'], listen: { host: '127.0.0.1', port: portalPort }, baseUrl: origin, lockout: '2s', codeAttempts: 3,
    notificationText: join(ROOT, 'config', 'portal-notification.txt'), notificationHtml: join(ROOT, 'config', 'portal-notification.html'),
  };
  writeFileSync(d.configFile, stringify(cfg));
  // gateway and browser start together; whichever started is stopped in teardown even if the other failed
  const [gwR, browserR] = await Promise.allSettled([
    startTestGateway(d, undefined, 200),
    chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', `--ignore-certificate-errors-spki-list=${spkiPin(ca.serverCert)}`],
      timeout: 60_000,
    }),
  ]);
  if (gwR.status === 'fulfilled') t.teardown(() => gwR.value.stop());
  if (browserR.status === 'fulfilled') t.teardown(() => browserR.value.close());
  if (gwR.status === 'rejected') throw gwR.reason;
  if (browserR.status === 'rejected') throw browserR.reason;
  const gw = gwR.value;
  const browser = browserR.value;
  t.is(gw.portalPort, portalPort);

  const context = await browser.newContext({ viewport: { width: 900, height: 900 }, acceptDownloads: true, locale: 'en-GB' });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.setDefaultNavigationTimeout(30_000);
  // every request must go to the portal itself; the only console errors allowed are Chromium's notes about the
  // portal's deliberate error statuses (400 wrong code, 423 locked, 410 expired), checked against the responses
  const foreign: string[] = [];
  const consoleErrors: string[] = [];
  const statuses: number[] = [];
  page.on('request', (r) => { if (new URL(r.url()).origin !== origin) foreign.push(r.url()); });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  page.on('response', (r) => { if (r.request().isNavigationRequest()) statuses.push(r.status()); });

  // the message: PHI in the body (policy sends it to the portal) and an attachment with non-ASCII bytes
  const labs = Buffer.from('A1c 7.9 percent; fasting glucose 162 mg/dL; creatinine 88 \u00b5mol/L\r\n', 'utf8');
  const attachment = join(d.dir, 'labs.txt');
  writeFileSync(attachment, labs);
  const relay = String(gw.listeners.addresses['relay']!.port);
  const send = (subject: string, body: string, extra: string[] = []) => swaks(['--server', '127.0.0.1', '--port', relay, '--from', 'dr.chen@clinic.test', '--to', 'maria@example.org',
    '--h-From', '"Dr. Chen" <dr.chen@clinic.test>', '--header', `Subject: ${subject}`, '--header', 'Date: Tue, 03 Mar 2026 09:30:00 +0000', '--body', body, ...extra]);
  const r = await send('Your lab results', 'Dear Maria,\n\nyour lab results for MRN 00482193 are ready. Diagnosis: type 2 diabetes mellitus.\nThe numbers are in the attached file.\n\nDr. Chen\n', ['--attach', `@${attachment}`]);
  t.is(r.code, 0, r.out);

  const linkRe = new RegExp(`${origin.replace(/[.:/]/g, '\\$&')}/m/[A-Za-z0-9_-]+`);
  const codeRe = /one-time code is (\d{6,8})/;
  const note = await nextAt(patients, 0, linkRe);
  const link = note.match[0];

  // landing page: nothing about the message yet; the button asks for a code by mail
  await page.goto(link);
  await page.getByRole('heading', { name: 'You have a secure message' }).waitFor();
  t.false((await page.content()).includes('00482193'));
  await page.getByRole('button', { name: /email me a code/i }).click();
  await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
  t.regex(await page.getByRole('status').innerText(), /We emailed a code to m\*\*\*@example\.org/);
  const first = await nextAt(patients, note.index + 1, codeRe);
  const wrong = first.match[1] === '000000' ? '111111' : '000000';

  // three wrong codes: two warnings, then the lock
  const codeBox = page.getByLabel('One-time code');
  const open = page.getByRole('button', { name: 'Open the message' });
  for (const left of [2, 1]) {
    await codeBox.fill(wrong);
    await open.click();
    await page.getByRole('alert').filter({ hasText: `You can try ${left} more time` }).waitFor();
  }
  await codeBox.fill(wrong);
  await open.click();
  await page.getByRole('heading', { name: 'This message is locked for now' }).waitFor();
  t.regex(await page.locator('main').innerText(), /Too many wrong codes were entered/);
  t.true(queryAudit(gw.store, { event: 'portal-locked' }).length === 1, 'portal-locked audited');
  t.is(queryAudit(gw.store, { event: 'portal-code-failed' }).length, 3);

  // the lock (2 s here) runs out; the lock voided the code, so ask for a new one and enter it
  await sleep(2_300);
  await page.goto(link);
  await page.getByRole('button', { name: /email me a code/i }).click();
  await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
  const second = await nextAt(patients, first.index + 1, codeRe);
  t.not(second.match[1], first.match[1]);
  await page.getByLabel('One-time code').fill(second.match[1]!);
  await page.getByRole('button', { name: 'Open the message' }).click();
  await page.waitForURL(`${link}/view`);
  await page.getByRole('heading', { name: 'Your secure message' }).waitFor();
  const message = page.getByRole('region', { name: 'Message' });
  t.regex(await message.innerText(), /your lab results for MRN 00482193 are ready/);
  t.regex(await page.locator('dl.facts').innerText(), /Dr\. Chen[\s\S]*Your lab results/);
  // the stylesheet loaded (CSP allows 'self'): the header bar has the accent colour
  t.is(await page.locator('header.bar').evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(11, 79, 138)');

  mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
  const shot = join(ROOT, 'test-artifacts', 'portal-message.png');
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env['PHIGATE_DOCS_SCREENSHOT'] === '1') {
    mkdirSync(join(ROOT, 'docs'), { recursive: true });
    copyFileSync(shot, join(ROOT, 'docs', 'portal-message.png'));
  }

  // the attachment through the browser's own download
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 20_000 }), page.getByRole('link', { name: 'labs.txt' }).click()]);
  t.is(download.suggestedFilename(), 'labs.txt');
  const path = await download.path();
  t.deepEqual(readFileSync(path), labs, 'the downloaded bytes are the original file');

  // a reply, through the form; it reaches the clinic like any message
  await page.getByLabel('Your reply').fill('Thank you, doctor.\nCan we talk on Monday?');
  await page.getByRole('button', { name: 'Send reply' }).click();
  await page.waitForURL(`${link}/view?replied=1`);
  t.is(await page.getByRole('status').innerText(), 'Your reply was sent.');
  const [reply] = await clinic.waitFor(1, 20_000);
  t.deepEqual(reply!.to, ['dr.chen@clinic.test']);
  t.is(reply!.from, 'maria@example.org');
  t.regex(reply!.bytes.toString('utf8'), /Thank you, doctor\.\r\nCan we talk on Monday\?/);

  // an expired link: after a reload, new messages expire after 5 s; open one while it lives, let it expire, reload
  cfg['portal'] = { ...cfg['portal'], expiry: '5s' };
  writeFileSync(d.configFile, stringify(cfg));
  gw.reload();
  const before = patients.messages.length;
  const r2 = await send('Follow-up', 'Dear Maria,\n\nplease book a follow-up for MRN 00482193 (diabetes review).\n');
  t.is(r2.code, 0, r2.out);
  const note2 = await nextAt(patients, before, linkRe);
  const expiredBy = Date.now() + 5_200; // it was stored before its notification arrived
  t.not(note2.match[0], link);
  await page.goto(note2.match[0]);
  await page.getByRole('heading', { name: 'You have a secure message' }).waitFor();
  await sleep(Math.max(0, expiredBy - Date.now()));
  await page.reload();
  await page.getByRole('heading', { name: 'This message has expired' }).waitFor();
  t.regex(await page.locator('main').innerText(), /this one has been deleted\. Contact the sender if you still need it\./);

  // audit, console, requests
  await sleep(300);
  const events = new Set(queryAudit(gw.store, {}).map((e) => e.event));
  for (const e of ['portal-stored', 'portal-code-sent', 'portal-code-failed', 'portal-locked', 'portal-opened', 'portal-attachment', 'portal-replied', 'portal-expired-view']) {
    t.true(events.has(e as never), `${e} audited`);
  }
  const allowed = /^Failed to load resource: the server responded with a status of (400|410|423) /;
  t.deepEqual(consoleErrors.filter((m) => !allowed.test(m)), [], 'no console errors');
  for (const m of consoleErrors.filter((x) => allowed.test(x))) t.true(statuses.includes(Number(/status of (\d+)/.exec(m)![1])), m);
  t.deepEqual(foreign, [], 'no request left the portal origin');
  t.is(await page.title(), 'Secure message', 'the title names nothing about the message');
  t.log(`browser flow took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
