// Reading a CSV/TSV attachment from its UTF-8 bytes (no decoded copy of the whole text) must give exactly
// what reading its decoded text gives: BOMs, invalid UTF-8, quotes, delimiters, CRLF, no header, a table
// that does not parse, and the byte sequences where the bytes path must not be taken.
import test from 'ava';
import { decodeText, extract } from '../../src/inspect/extract/dispatch.js';
import { delimitedToLabelledText, utf8TableBytes } from '../../src/inspect/extract/table.js';

const CASES: Record<string, Buffer> = {
  'plain with header': Buffer.from('MRN,DOB,Name\n00482193,03/14/1962,Maria Lopez\n00482194,04/15/1963,José Núñez\n'),
  'crlf and quotes': Buffer.from('"Member ID","Notes"\r\n"XKH123456789","said ""fine"", no change"\r\n"A1","x\r\ny"\r\n'),
  'tabs': Buffer.from('Patient\tDx\tPhone\nAnn Lee\tI48.91\t555-0100\n'),
  'semicolons': Buffer.from('Name;Visit;Notes\nJordan Smith;2025-01-02;routine\n'),
  'utf-8 bom': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Name,MRN\nAnn,123\n')]),
  'utf-16 bom bytes': Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Name,MRN\nAnn,123\n')]),
  'invalid utf-8': Buffer.concat([Buffer.from('Name,Notes\nAnn,'), Buffer.from([0xe2, 0x82]), Buffer.from(',x\nBob,'), Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('\n')]),
  'no header': Buffer.from('1,2,3\n4,5,6\n'),
  'one row': Buffer.from('Name,MRN\n'),
  'empty lines': Buffer.from('\n\nName,MRN\n\nAnn,1\n\n'),
  'unterminated quote': Buffer.from('Name,Notes\nAnn,"open quote\n'),
  'empty': Buffer.alloc(0),
};

for (const [name, bytes] of Object.entries(CASES)) {
  test(`table from bytes reads as table from text: ${name}`, async (t) => {
    const fromText = delimitedToLabelledText(decodeText(bytes, 'utf-8')).text;
    const direct = utf8TableBytes(bytes, true, 1 << 20);
    if (direct) t.is(delimitedToLabelledText(direct).text, fromText);
    const r = await extract('table', bytes, 'utf-8', 1 << 20);
    t.deepEqual(r, { kind: 'text', text: fromText });
  });
}

test('the bytes path is not taken for other charsets, past the character budget, or bytes that look like a UTF-16 BOM', (t) => {
  const b = Buffer.from('Name,MRN\nAnn,1\n');
  t.is(utf8TableBytes(b, true, b.length), b);
  t.is(utf8TableBytes(b, false, b.length), null);
  t.is(utf8TableBytes(b, true, b.length - 1), null);
  t.is(utf8TableBytes(CASES['utf-16 bom bytes']!, true, 1 << 20), null);
});

test('a table cut by the character budget reads as before (the text path) and says it was cut', async (t) => {
  const bytes = CASES['plain with header']!;
  const r = await extract('table', bytes, 'utf-8', 30);
  t.deepEqual(r, { kind: 'text', text: delimitedToLabelledText(decodeText(bytes, 'utf-8').slice(0, 30)).text, truncated: true });
});

test('a table with more rows than are read is reported as truncated; one within the limit is not', (t) => {
  const rows = (n: number) => Buffer.from(['Name,MRN', ...Array.from({ length: n }, (_, i) => `P${i},${100000 + i}`)].join('\n'));
  t.false(delimitedToLabelledText(rows(1000)).truncated);
  const big = delimitedToLabelledText(rows(200_500));
  t.true(big.truncated);
  t.false(big.text.includes('P200400'), 'rows past the limit are not in the text');
});

test('in a scan, the rows a table could not read are listed as not scanned (possible PHI for policy)', async (t) => {
  const { scanMessage } = await import('../../src/inspect/scan.js');
  const { loadDictionaries } = await import('../../src/inspect/dictionary.js');
  const csv = ['Name,MRN', ...Array.from({ length: 200_100 }, (_, i) => `P${i},${100000 + i}`)].join('\r\n');
  const msg = Buffer.from(`From: a@b.test\r\nSubject: export\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: text/csv; name=export.csv\r\nContent-Disposition: attachment; filename=export.csv\r\n\r\n${csv}\r\n--b--\r\n`);
  const r = await scanMessage(msg, { dictionaries: loadDictionaries() });
  t.deepEqual(r.unscanned, [{ where: 'attachment:export.csv', reason: 'too-large' }]);
});
