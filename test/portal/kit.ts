// Portal test kit: a store in a temporary data directory with a fresh master key, a settable clock, a MIME message
// with a marker, an HTML part carrying a script and a remote image, and a binary attachment; and a running portal
// over real HTTPS (test CA) with the injected sendCode, submitReply, audit and log captured.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store.js';
import { keyringOf, masterKeyFrom } from '../../src/seal.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { makeTestCa, type TestCa } from '../helpers/ca.js';
import { startPortal, type PortalDeps, type PortalEvent, type RunningPortal } from '../../src/portal/server.js';
import { createPortalMessage } from '../../src/portal/store.js';
import { PortalClient } from './client.js';

export function tempStore(): { store: Store; dataDir: string } {
  const dataDir = mkdtempSync(join(tmpdir(), 'phigate-portal-'));
  const ring = keyringOf(masterKeyFrom(randomBytes(32)));
  return { store: openStore(dataDir, { keyring: () => ring }), dataDir };
}

export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => { const p = join(dir, n); return statSync(p).isDirectory() ? filesUnder(p) : [p]; });
}

export function dirContains(dir: string, needle: string): string[] {
  return filesUnder(dir).filter((f) => readFileSync(f).includes(needle));
}

export const clock = (start = Date.UTC(2026, 0, 15, 9, 0, 0)) => {
  let t = start;
  return { now: () => t, set: (v: number) => { t = v; }, advance: (ms: number) => { t += ms; } };
};

/** An attachment whose bytes cover every byte value, so any re-encoding shows. */
export const ATTACHMENT = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(3000)]);

export function sampleMessage(marker: string, opts: { html?: boolean } = {}): Buffer {
  const b = `b-${randomBytes(6).toString('hex')}`;
  const alt = `a-${randomBytes(6).toString('hex')}`;
  const att = ATTACHMENT.toString('base64').replace(/.{76}/g, '$&\r\n');
  const html = [
    '<html><head><style>body{background:url(http://tracker.example/bg.png)}</style></head><body>',
    `<p>Dear patient, <b>${marker}</b> HTML part.</p>`,
    '<script>alert("pwned-script")</script>',
    '<img src="http://tracker.example/pixel.gif" alt="tracker">',
    '<img src="https://tracker.example/pixel2.gif">',
    '<p style="background-image:url(http://tracker.example/style.png)">styled</p>',
    '<a href="https://clinic.example/info" onclick="steal()">clinic info</a>',
    '<iframe src="https://evil.example/frame"></iframe>',
    '<form action="https://evil.example/phish"><input name="ssn"></form>',
    '</body></html>',
  ].join('\r\n');
  const lines = [
    'From: Dr Smith <dr.smith@clinic.example>',
    'To: Pat Patient <pat@example.org>',
    'Subject: Your lab results',
    'Date: Thu, 15 Jan 2026 08:30:00 +0000',
    'Message-ID: <orig-123@clinic.example>',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${b}"`,
    '',
    `--${b}`,
  ];
  if (opts.html !== false) {
    lines.push(`Content-Type: multipart/alternative; boundary="${alt}"`, '', `--${alt}`,
      'Content-Type: text/plain; charset=utf-8', '', `Dear patient, ${marker} text part.`, 'Your results are attached.', '',
      `--${alt}`, 'Content-Type: text/html; charset=utf-8', '', html, '', `--${alt}--`);
  } else {
    lines.push('Content-Type: text/plain; charset=utf-8', '', `Dear patient, ${marker} text part.`, 'Your results are attached.');
  }
  lines.push('', `--${b}`, 'Content-Type: application/pdf; name="results.pdf"', 'Content-Disposition: attachment; filename="results.pdf"',
    'Content-Transfer-Encoding: base64', '', att, `--${b}--`, '');
  return Buffer.from(lines.join('\r\n'));
}

// ---- a running portal over real HTTPS, with the injected functions captured

let ca: TestCa | undefined;
export const testCa = () => (ca ??= makeTestCa(['localhost']));

export interface TestPortal {
  portal: RunningPortal;
  store: Store;
  dataDir: string;
  clock: ReturnType<typeof clock>;
  codes: { recipient: string; code: string; portalId: string }[];
  replies: { from: string; to: string; subject: string; text: string; inReplyTo: string | null }[];
  events: PortalEvent[];
  logs: string[];
  client(): PortalClient;
  /** a message in the portal; returns its id, token and marker */
  add(opts?: { passphrase?: string; expiresInMs?: number; html?: boolean }): Promise<{ id: string; token: string; marker: string; bytes: Buffer }>;
  close(): Promise<void>;
}

export async function startTestPortal(over: Partial<PortalDeps> = {}): Promise<TestPortal> {
  const { store, dataDir } = tempStore();
  const c = clock();
  const codes: TestPortal['codes'] = [];
  const replies: TestPortal['replies'] = [];
  const events: PortalEvent[] = [];
  const logs: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { logs.push(String(chunk)); cb(); } });
  const { serverKey, serverCert, caCert } = testCa();
  const portal = await startPortal({
    store, listen: { host: '127.0.0.1', port: 0 }, tls: { key: serverKey, cert: serverCert }, baseUrl: 'https://portal.example',
    now: c.now, log: pino({ level: 'debug' }, sink), audit: (e) => events.push(e),
    sendCode: async (recipient, code, portalId) => { codes.push({ recipient, code, portalId }); },
    submitReply: async (from, to, subject, text, inReplyTo) => { replies.push({ from, to, subject, text, inReplyTo }); },
    codeLifetimeMs: 10 * 60_000, maxAttempts: 3, lockMs: 15 * 60_000,
    ...over,
  });
  return {
    portal, store, dataDir, clock: c, codes, replies, events, logs,
    client: () => new PortalClient(portal.port, caCert),
    add: async (o = {}) => {
      const marker = `Marker-${randomBytes(6).toString('hex')}`;
      const bytes = sampleMessage(marker, o.html === undefined ? {} : { html: o.html });
      const { id, token } = await createPortalMessage(store, {
        bytes, sender: 'dr.smith@clinic.example', recipient: 'pat@example.org', queueId: 'Q0000000000000000001', messageId: '<orig-123@clinic.example>',
        expiresAt: c.now() + (o.expiresInMs ?? 30 * 86_400_000), now: c.now(), ...(o.passphrase !== undefined ? { passphrase: o.passphrase } : {}),
      });
      return { id, token, marker, bytes };
    },
    close: async () => { await portal.close(); await store.close(); },
  };
}
