// Owns `npm run bench:scan`: PHI scan throughput (MB/s) for plain text, HTML and a PDF-heavy message, latency
// percentiles for 10 KB and 1 MB messages, and peak RSS while scanning a message with a 50 MB attachment
// (measured in a child process, from after the message is built, so nothing else is counted). Prints figures;
// asserts nothing.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { deflateSync } from 'node:zlib';
import { scanMessage } from '../src/inspect/scan.js';
import { loadDictionaries, type Dictionaries } from '../src/inspect/dictionary.js';

const SENTENCES = [
  'The quarterly facilities meeting moved to the second floor conference room next Tuesday afternoon.',
  'Please review the attached budget spreadsheet and send comments before the end of the week.',
  'Patient Maria Lopez, DOB 03/14/1962, MRN 00482193, was seen for follow-up of type 2 diabetes mellitus.',
  'Her hemoglobin A1c was 7.9 percent; metformin was increased to 1000 mg twice daily.',
  'The parking garage on Elm Street will be closed for resurfacing from Friday evening until Monday.',
  'Remember to complete the annual compliance training module in the learning portal by the 30th.',
  'Referral to cardiology for evaluation of atrial fibrillation; echocardiogram ordered, dx I48.91.',
  'Our vendor shipped order 4521-8833-10 via UPS tracking 1Z999AA10123456784 this morning.',
  'The new coffee machine in the break room takes pods only; please do not use ground coffee.',
  'Member ID XKH123456789, group 0078412, claim for colonoscopy on 02/03/2025 was processed.',
];

const ORDINARY = [
  'Thanks for the update on the vendor contract; legal will send the redlines by Thursday.',
  'The quarterly facilities meeting moved to the second floor conference room next Tuesday afternoon.',
  'Please review the attached budget spreadsheet and send comments before the end of the week.',
  'The parking garage on Elm Street will be closed for resurfacing from Friday evening until Monday.',
  'Remember to complete the annual compliance training module in the learning portal by the 30th.',
  'The new coffee machine in the break room takes pods only; please do not use ground coffee.',
  'Our holiday schedule is posted on the intranet, and the front desk closes early on the 24th.',
  'If your badge stops working, stop by security on the ground floor and they will reissue it.',
  'The network team will patch the file servers on Saturday night between ten and two.',
];

/** Text where one sentence in ten carries identifiers and health terms (mail as a clinic sends it). */
function typicalText(bytes: number): string {
  const out: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const s = i % 10 === 9 ? SENTENCES[(i / 10) % SENTENCES.length | 0]! : ORDINARY[(i * 7 + (i >> 2)) % ORDINARY.length]!;
    out.push(s);
    n += s.length + 1;
    if (i % 6 === 5) { out.push('\n'); n++; }
  }
  return out.join(' ');
}

/** Text where every other sentence carries identifiers: a worst case for the detectors. */
function paragraphText(bytes: number): string {
  const out: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const s = SENTENCES[(i * 7 + (i >> 3)) % SENTENCES.length]!;
    out.push(s);
    n += s.length + 1;
    if (i % 6 === 5) { out.push('\n'); n++; }
  }
  return out.join(' ');
}

function wrap(text: string): string {
  return text.replace(/(.{1,76})(?:\s+|$)/g, '$1\n');
}

function message(headers: string, body: string): Buffer {
  return Buffer.from(`From: Clinic <desk@clinic.example>\r\nTo: records@partner.example\r\nSubject: Weekly notes\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench@clinic.example>\r\nMIME-Version: 1.0\r\n${headers}\r\n\r\n${body}`);
}

function plainMessage(bytes: number, text: (n: number) => string = typicalText): Buffer {
  return message('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit', wrap(text(bytes)).replace(/\n/g, '\r\n'));
}

function qpMessage(bytes: number): Buffer {
  // soft line breaks and =XX escapes: the MIME parser's path rather than the plain-text fast path
  const body = wrap(typicalText(bytes)).split('\n').map((l) => l.replace(/=/g, '=3D').replace(/;/g, '=3B')).join('=\r\n');
  return message('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable', body);
}

function htmlMessage(bytes: number): Buffer {
  const paras = paragraphText(bytes).split('\n').map((p) => `<p style="margin:0 0 8px">${p.replace(/(\d{3})/, '<b>$1</b>')}</p>`);
  const rows = paras.map((p, i) => (i % 5 === 0 ? `<table><tr><td>Item</td><td>${i}</td></tr></table>${p}` : p));
  return message('Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit', wrap(`<html><body>${rows.join('\n')}</body></html>`).replace(/\n/g, '\r\n'));
}

/** A multi-page PDF with a Flate-compressed text layer. */
function pdf(text: string): Buffer {
  const lines = wrap(text).split('\n').map((l) => l.replace(/[^\x20-\x7e]/g, ' ').replace(/([\\()])/g, '\\$1'));
  const perPage = 50;
  const pages: string[][] = [];
  for (let i = 0; i < lines.length; i += perPage) pages.push(lines.slice(i, i + perPage));
  const objs: Buffer[] = [];
  const add = (b: string | Buffer) => { objs.push(typeof b === 'string' ? Buffer.from(b, 'latin1') : b); return objs.length; };
  add('<< /Type /Catalog /Pages 2 0 R >>');
  add(''); // pages, filled in below
  const font = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>');
  const kids: number[] = [];
  for (const page of pages) {
    const ops = Buffer.from(['BT', '/F1 10 Tf', '14 TL', '56 760 Td', ...page.map((l) => `(${l}) Tj T*`), 'ET'].join('\n'), 'latin1');
    const z = deflateSync(ops);
    const content = add(Buffer.concat([Buffer.from(`<< /Length ${z.length} /Filter /FlateDecode >>\nstream\n`), z, Buffer.from('\nendstream')]));
    kids.push(add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 ${font} 0 R >> >> /Contents ${content} 0 R >>`));
  }
  objs[1] = Buffer.from(`<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`);
  const parts = [Buffer.from('%PDF-1.4\n')];
  let pos = parts[0]!.length;
  const offsets: number[] = [];
  objs.forEach((body, i) => {
    offsets.push(pos);
    const b = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), body, Buffer.from('\nendobj\n')]);
    parts.push(b);
    pos += b.length;
  });
  let xref = `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) xref += `${String(o).padStart(10, '0')} 00000 n \n`;
  parts.push(Buffer.from(`${xref}trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${pos}\n%%EOF\n`));
  return Buffer.concat(parts);
}

function withAttachment(name: string, type: string, data: Buffer): Buffer {
  const b64 = data.toString('base64').replace(/(.{76})/g, '$1\r\n');
  const body = `--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attached file.\r\n--b1\r\nContent-Type: ${type}; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--b1--\r\n`;
  return message('Content-Type: multipart/mixed; boundary="b1"', body);
}

async function throughput(label: string, raw: Buffer, textBytes: number, dict: Dictionaries, runs = 3): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await scanMessage(raw, { dictionaries: dict, timeBudgetMs: 600_000, maxTextChars: 1 << 30 });
    times.push(performance.now() - t0);
    if (r.reasons.includes('scan-failed')) throw new Error(`${label}: scan failed: ${r.reasons.join(', ')}`);
  }
  const best = Math.min(...times);
  const mb = textBytes / 1e6;
  console.log(`${label.padEnd(34)} ${(raw.length / 1e6).toFixed(1).padStart(6)} MB message, ${mb.toFixed(1)} MB text: ${(mb / (best / 1000)).toFixed(1).padStart(6)} MB/s of text (${(raw.length / 1e6 / (best / 1000)).toFixed(1)} MB/s of message; best of ${runs})`);
}

async function latency(label: string, raw: Buffer, n: number, dict: Dictionaries): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await scanMessage(raw, { dictionaries: dict });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const p = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
  console.log(`${label.padEnd(34)} n=${n}: p50 ${p(0.5)} ms, p95 ${p(0.95)} ms, p99 ${p(0.99)} ms`);
}

async function childPeak(): Promise<void> {
  // the child builds a message with a 50 MB CSV attachment, scans it, and reports its peak RSS
  const csvRow = 'Name,Visit,Notes\n';
  const line = 'Jordan Smith,2025-01-02,routine follow up no change in plan\n';
  const csv = Buffer.from(csvRow + line.repeat(Math.ceil((50 * 1024 * 1024) / line.length)));
  const raw = withAttachment('export.csv', 'text/csv', csv);
  const dict = loadDictionaries();
  // building the message leaves strings several times its size behind: collected (the child runs with
  // --expose-gc) and the kernel's high-water mark reset (Linux), so the peak is the scan's own
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const resetPeak = (() => { try { writeFileSync('/proc/self/clear_refs', '5'); return true; } catch { return false; } })();
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  const r = await scanMessage(raw, { dictionaries: dict, timeBudgetMs: 600_000, maxTextChars: 1 << 30 });
  const ms = performance.now() - t0;
  const hwm = resetPeak ? /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8')) : null;
  const peak = hwm ? Number(hwm[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ messageMB: raw.length / 1e6, attachmentMB: csv.length / 1e6, rssBeforeMB: before / 1e6, peakRssMB: peak / 1e6, scanOnly: !!hwm, ms, failed: r.reasons.includes('scan-failed') }));
}

async function main(): Promise<void> {
  if (process.argv.includes('--child-peak')) return childPeak();
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, one core (scanning is single-threaded)`);
  const t0 = performance.now();
  const dict = loadDictionaries();
  console.log(`dictionaries: ${dict.terms.length} terms (${dict.counts.medication} medications, ${dict.counts.condition} conditions, ${dict.counts.procedure} procedures, ${dict.counts.service} services), ${dict.knownIcd10.size} ICD-10 codes, loaded in ${(performance.now() - t0).toFixed(0)} ms`);
  const size = Number(process.env['BENCH_SCAN_MB'] ?? 10) * 1e6;
  await throughput('plain text (8bit), typical', plainMessage(size), size, dict);
  await throughput('plain text (8bit), dense PHI', plainMessage(size, paragraphText), size, dict);
  await throughput('plain text, quoted-printable', qpMessage(size), size, dict);
  const html = htmlMessage(size);
  await throughput('HTML', html, size, dict);
  const pdfBytes = pdf(paragraphText(size / 2));
  await throughput('PDF-heavy (PDF attachment, base64)', withAttachment('notes.pdf', 'application/pdf', pdfBytes), size / 2, dict, 2);
  await latency('10 KB plain message', plainMessage(10_000), 300, dict);
  await latency('1 MB plain message', plainMessage(1_000_000), 30, dict);
  const child = spawnSync(process.execPath, ['--expose-gc', process.argv[1]!, '--child-peak'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const line = child.stdout.trim().split('\n').pop() ?? '{}';
  const peak = JSON.parse(line) as { messageMB: number; attachmentMB: number; peakRssMB: number; rssBeforeMB: number; scanOnly: boolean; ms: number; failed: boolean };
  console.log(`50 MB CSV attachment (${peak.messageMB.toFixed(0)} MB message): peak RSS ${peak.peakRssMB.toFixed(0)} MB (${peak.rssBeforeMB.toFixed(0)} MB before the scan, +${(peak.peakRssMB - peak.rssBeforeMB).toFixed(0)} MB${peak.scanOnly ? '' : '; peak of the whole child, message building included'}), ${(peak.ms / 1000).toFixed(1)} s${peak.failed ? ', FAILED' : ''}`);
}

main().catch((e) => { console.error(`bench:scan failed: ${(e as Error).message}`); process.exitCode = 1; });
