// Owns scanning one message: walks its MIME tree (mailparser, streaming), hands every text, attachment,
// archive entry and attached message to the right extractor, analyses each text unit, aggregates findings
// and decides the verdict. A scan that throws or passes its time or size budget fails closed (phi: true,
// reason scan-failed).
import type { AttachmentStream, MessageText, Headers } from 'mailparser';
import type { Dictionaries } from './dictionary.js';
import { analyzeUnit, type UnitAnalysis, type UnitInput } from './analyze.js';
import { decide, failedScan } from './verdict.js';
import { classify, extract, htmlToText } from './extract/dispatch.js';
import { simpleMessage } from './simple-message.js';
import type { Finding, ScanResult, Unscanned } from './types.js';

export interface ScanOptions {
  dictionaries: Dictionaries;
  /** wall-clock budget for one message */
  timeBudgetMs?: number;
  /** most text characters analysed per message; beyond it the scan fails closed */
  maxTextChars?: number;
  maxDepth?: number;
}

interface Ctx {
  opts: Required<ScanOptions>;
  units: UnitInput[];
  unscanned: Unscanned[];
  attachments: { name: string; type: string }[];
  chars: number;
  bytes: number;
}

const FREE_TEXT_HEADERS = ['subject', 'comments', 'keywords', 'thread-topic', 'content-description'];

class BudgetError extends Error {}

function addUnit(ctx: Ctx, u: UnitInput): void {
  if (!u.text || !/\S/.test(u.text)) return; // (not trim(): that would copy a long text)
  ctx.chars += u.text.length;
  if (ctx.chars > ctx.opts.maxTextChars) throw new BudgetError('text budget exceeded');
  ctx.units.push(u);
}

function headerText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && 'value' in (v as object)) return String((v as { value: unknown }).value);
  return '';
}

function charsetOf(headers: Headers): string | undefined {
  const ct = headers.get('content-type') as { params?: Record<string, string> } | undefined;
  return ct?.params?.['charset'];
}

/**
 * The most bytes an attachment of a message of `rawLength` bytes can decode to: its part is no longer than
 * the message, and base64 gives three bytes for every four characters (other encodings never grow).
 */
function contentBound(rawLength: number, headers: Headers): number {
  const cte = headerText(headers.get('content-transfer-encoding')).trim().toLowerCase();
  return cte === 'base64' ? Math.ceil(rawLength / 4) * 3 : rawLength;
}

/**
 * Reads an attachment's decoded content into one buffer, reserved at `bound` bytes and filled in place: only
 * the pages written are ever touched, so it costs the content's size, and there is no list of chunks and
 * no concatenation holding the content twice. A stream longer than its bound (it should not happen) grows
 * the buffer rather than failing.
 */
async function readContent(s: NodeJS.ReadableStream, bound: number): Promise<Buffer> {
  let buf = Buffer.allocUnsafeSlow(Math.max(bound, 1));
  let n = 0;
  for await (const chunk of s) {
    const c = chunk as Buffer;
    if (n + c.length > buf.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(buf.length * 2, n + c.length));
      buf.copy(bigger, 0, 0, n);
      buf = bigger;
    }
    c.copy(buf, n);
    n += c.length;
  }
  return buf.subarray(0, n);
}

/**
 * Bytes handed to the MIME parser per write. Written whole, a message is copied once more by the parser's
 * input stage, and a base64 body reaches the decoder as one string the size of the part (then a cleaned copy
 * of it); in slices, each of those is a slice's size. The slices are views of `raw`, not copies.
 */
const PARSER_SLICE = 64 * 1024;

async function scanAttachment(ctx: Ctx, where: string, name: string, contentType: string, charset: string | undefined, data: Buffer, depth: number): Promise<void> {
  ctx.bytes += data.length;
  ctx.attachments.push({ name, type: contentType.toLowerCase() });
  const kind = classify(contentType, name, data);
  const r = await extract(kind, data, charset, ctx.opts.maxTextChars - ctx.chars);
  switch (r.kind) {
    case 'text':
      addUnit(ctx, { where, text: r.text });
      // a budget cut the text short: what was not read may hold PHI, and policy must know
      if (r.truncated) ctx.unscanned.push({ where, reason: 'too-large' });
      return;
    case 'unscanned': ctx.unscanned.push({ where, reason: r.reason }); return;
    case 'message':
      if (depth >= ctx.opts.maxDepth) { ctx.unscanned.push({ where, reason: 'too-deep' }); return; }
      await walkMessage(ctx, r.data, `${where}/`, depth + 1);
      return;
    case 'nested':
      if (depth >= ctx.opts.maxDepth) { ctx.unscanned.push({ where, reason: 'too-deep' }); return; }
      for (const u of r.unscanned ?? []) ctx.unscanned.push({ where: `${where}/${u.name}`, reason: u.reason });
      for (const p of r.parts) await scanAttachment(ctx, `${where}/${p.name}`, p.name, p.contentType, undefined, p.data, depth + 1);
      return;
  }
}

/** Walks one message (top level or attached); `prefix` is '' at the top and 'attachment:x.eml/' inside. */
async function walkMessage(ctx: Ctx, raw: Buffer, prefix: string, depth: number): Promise<void> {
  const simple = simpleMessage(raw);
  if (simple) {
    const h = simple.headers;
    const flags = { listUnsubscribe: h.has('list-unsubscribe') || h.has('list-id'), precedenceBulk: /bulk|list|junk/i.test(h.get('precedence') ?? '') };
    for (const name of FREE_TEXT_HEADERS) {
      const v = h.get(name);
      if (v) addUnit(ctx, { where: name === 'subject' ? `${prefix}subject` : `${prefix}header:${name}`, text: v, headers: flags });
    }
    addUnit(ctx, { where: `${prefix}body`, text: simple.body, headers: flags });
    return;
  }
  // loaded on first use: a plain-text message never needs the MIME parser (and `phigate scan` starts faster)
  const { MailParser } = await import('mailparser');
  // (checksumAlgo false: no MD5 of every attachment, nothing here reads it)
  const parser = new MailParser({ skipHtmlToText: true, skipImageLinks: true, skipTextLinks: true, skipTextToHtml: true, maxHtmlLengthToParse: 20 * 1024 * 1024, checksumAlgo: false } as never);
  const attachments: Promise<void>[] = [];
  let text: MessageText | null = null;
  let headers: Headers | null = null;
  let n = 0;
  parser.on('headers', (h: Headers) => { headers = h; });
  parser.on('data', (d: AttachmentStream | MessageText) => {
    if (d.type === 'text') { text = d; return; }
    const a = d;
    const name = a.filename ?? `part-${a.partId ?? ++n}`;
    const where = `${prefix}attachment:${name}`;
    const done = readContent(a.content, contentBound(raw.length, a.headers)).then((data) => {
      a.release?.();
      return scanAttachment(ctx, where, name, a.contentType, charsetOf(a.headers), data, depth);
    }, (e) => { a.release?.(); throw e; });
    attachments.push(done);
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', reject);
    for (let i = 0; i < raw.length; i += PARSER_SLICE) parser.write(raw.subarray(i, i + PARSER_SLICE));
    parser.end();
  });
  await Promise.all(attachments);
  const h = headers as Headers | null;
  if (h) {
    const listUnsubscribe = h.has('list-unsubscribe') || h.has('list-id');
    const precedenceBulk = /bulk|list|junk/i.test(headerText(h.get('precedence')));
    for (const name of FREE_TEXT_HEADERS) {
      const v = headerText(h.get(name));
      if (v) addUnit(ctx, { where: name === 'subject' ? `${prefix}subject` : `${prefix}header:${name}`, text: v, headers: { listUnsubscribe, precedenceBulk } });
    }
    const t = text as MessageText | null;
    // text/plain when there is one; the HTML (reduced to text by our converter, which keeps cell and block
    // boundaries) when there is none
    const plain = t?.text ?? '';
    addUnit(ctx, { where: `${prefix}body`, text: plain, headers: { listUnsubscribe, precedenceBulk } });
    // the HTML too when the plain part is missing or a stub ("view this message in HTML")
    if (t?.html && plain.length < t.html.length / 2) {
      const fromHtml = htmlToText(t.html);
      if (plain.length < fromHtml.length * 0.6) addUnit(ctx, { where: `${prefix}body:html`, text: fromHtml, headers: { listUnsubscribe, precedenceBulk } });
    }
  }
}

function aggregate(units: UnitAnalysis[]): Finding[] {
  const byKey = new Map<string, Finding & { keys: Set<string> }>();
  for (const u of units) {
    for (const h of u.hits) {
      const k = `${h.type}\u0000${u.where}`;
      let f = byKey.get(k);
      if (!f) { f = { type: h.type, where: u.where, count: 0, confidence: 0, sample: h.sample, keys: new Set() }; byKey.set(k, f); }
      f.keys.add(h.key);
      f.count = f.keys.size;
      if (h.confidence > f.confidence) { f.confidence = h.confidence; f.sample = h.sample; }
    }
  }
  return [...byKey.values()].map(({ keys: _k, ...f }) => f).sort((a, b) => a.type.localeCompare(b.type) || a.where.localeCompare(b.where));
}

export async function scanMessage(raw: Buffer, options: ScanOptions): Promise<ScanResult> {
  const started = performance.now();
  const opts: Required<ScanOptions> = { timeBudgetMs: 30_000, maxTextChars: 64 * 1024 * 1024, maxDepth: 4, ...options };
  const ctx: Ctx = { opts, units: [], unscanned: [], attachments: [], chars: 0, bytes: raw.length };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      walkMessage(ctx, raw, '', 0),
      new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new BudgetError('time budget exceeded')), opts.timeBudgetMs); }),
    ]);
    // the budget also covers analysis, which runs synchronously: checked before each text unit
    const overBudget = () => performance.now() - started > opts.timeBudgetMs;
    const analyses = ctx.units.map((u) => {
      if (overBudget()) throw new BudgetError('time budget exceeded');
      return analyzeUnit(u, opts.dictionaries);
    });
    const verdict = decide(analyses, ctx.unscanned, opts.dictionaries.orgRoles);
    return { ...verdict, findings: aggregate(analyses), unscanned: ctx.unscanned, scanMs: Math.round(performance.now() - started), bytesScanned: ctx.bytes, attachments: ctx.attachments };
  } catch (e) {
    return { ...failedScan(e instanceof BudgetError ? e.message : 'scanner error', ctx.bytes, ctx.unscanned, Math.round(performance.now() - started)), attachments: ctx.attachments };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

