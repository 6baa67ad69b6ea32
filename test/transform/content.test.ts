// Rule edits to a recipient's copy (applyChanges): strip trigger tags such as [secure] from the Subject in any case,
// add a subject prefix once, add headers; non-ASCII subjects come out as RFC 2047 words (checked by decoding with
// libmime) folded within line limits; the body bytes stay identical; LF-only messages and a missing Subject.
import test from 'ava';
import libmime from 'libmime';
import { applyChanges, changesKey, editSubject, hasChanges } from '../../src/transform/content.js';
import { headerBlockEnd, parseHeaderLines } from '../../src/message-headers.js';

// a body with 8-bit bytes that are not UTF-8, a blank line and a Subject-like line: none of it may change
const BODY = Buffer.concat([Buffer.from('Dear patient,\r\n\r\nSubject: [secure] not a header\r\n'), Buffer.from([0xe9, 0xff, 0x0d, 0x0a]), Buffer.from('Bye.\r\n')]);

function mail(head: string, body: Buffer = BODY, nl = '\r\n'): Buffer {
  return Buffer.concat([Buffer.from(head.replace(/\n/g, nl) + nl + nl, 'utf8'), body]);
}

const split = (b: Buffer) => { const { end, bodyStart } = headerBlockEnd(b); return { head: b.subarray(0, end).toString('latin1'), body: b.subarray(bodyStart) }; };
const headers = (b: Buffer) => parseHeaderLines(split(b).head);
const subjectOf = (b: Buffer) => { const s = headers(b).filter(([n]) => n === 'subject'); return s.length === 1 ? libmime.decodeWords(s[0]![1]) : `${s.length} Subject headers`; };

const HEAD = 'Received: from ehr.clinic.example\n\tby gw.clinic.example; Sun, 29 Nov 2026 10:00:00 +0000\nFrom: EHR <ehr@clinic.example>\nTo: doc@lab.example\nSubject: [SECURE] Referral for Ms. Chen\nMessage-ID: <a1@clinic.example>';

test('strip removes the tag in any case and wherever it is, tidying the spaces', (t) => {
  const out = applyChanges(mail(HEAD), { strip: ['[secure]'] });
  t.is(subjectOf(out), 'Referral for Ms. Chen');
  t.is(editSubject('Re: [Secure]  results [secure]', { strip: ['[secure]'] }), 'Re: results');
  t.is(editSubject('Lab[SECURE]results', { strip: ['[secure]'] }), 'Lab results');
  t.is(editSubject('[secure] a (b) [encrypt]', { strip: ['[secure]', '[encrypt]', '(b)'] }), 'a', 'tags are text, not patterns');
  t.is(editSubject('secure results', { strip: ['[secure]'] }), 'secure results', 'the brackets are part of the tag');
  t.true(split(out).body.equals(BODY));
});

test('the prefix is added once, before the edited subject', (t) => {
  t.is(subjectOf(applyChanges(mail(HEAD), { subjectPrefix: '[EXTERNAL]' })), '[EXTERNAL] [SECURE] Referral for Ms. Chen');
  t.is(subjectOf(applyChanges(mail(HEAD), { subjectPrefix: '[EXTERNAL]', strip: ['[secure]'] })), '[EXTERNAL] Referral for Ms. Chen');
  const once = applyChanges(mail(HEAD), { subjectPrefix: '[EXTERNAL]' });
  t.is(subjectOf(applyChanges(once, { subjectPrefix: '[EXTERNAL]' })), '[EXTERNAL] [SECURE] Referral for Ms. Chen', 'not doubled on a second pass');
  t.is(editSubject('[external] Lunch', { subjectPrefix: '[EXTERNAL] ' }), '[external] Lunch');
});

test('the other header lines, their order and folding, and the body bytes are kept exactly', (t) => {
  const input = mail(HEAD);
  const out = applyChanges(input, { strip: ['[secure]'], subjectPrefix: '[EXTERNAL]', headers: [['X-Phigate-Protected', 'yes']] });
  const expected = mail(HEAD.replace('Subject: [SECURE] Referral for Ms. Chen', 'Subject: [EXTERNAL] Referral for Ms. Chen') + '\nX-Phigate-Protected: yes');
  t.is(out.toString('latin1'), expected.toString('latin1'));
  t.true(split(out).body.equals(BODY));
  t.true(out.subarray(out.length - BODY.length).equals(BODY));
});

test('headers are added at the end of the header block, one line each, even when a value has line breaks', (t) => {
  const out = applyChanges(mail(HEAD), { headers: [['X-Phigate-Protected', 'yes'], ['X-Phigate-Rule', 'phi-external\r\nBcc: everyone@example.com']] });
  const hs = headers(out);
  t.deepEqual(hs.slice(-2), [['x-phigate-protected', 'yes'], ['x-phigate-rule', 'phi-external Bcc: everyone@example.com']]);
  t.false(hs.some(([n]) => n === 'bcc'), 'no header injected');
  t.is(subjectOf(out), '[SECURE] Referral for Ms. Chen', 'the subject is not touched by header edits');
  t.true(split(out).body.equals(BODY));
});

test('non-ASCII subjects come out as RFC 2047 words that decode to the edited text', (t) => {
  // already encoded on the way in
  const enc = mail('From: a@clinic.example\nSubject: =?UTF-8?Q?=5Bsecure=5D_Befund_f=C3=BCr_Frau_M=C3=BCller?=');
  const o1 = applyChanges(enc, { strip: ['[secure]'], subjectPrefix: '[EXTERN]' });
  t.is(subjectOf(o1), '[EXTERN] Befund für Frau Müller');
  // raw UTF-8 (SMTPUTF8) on the way in
  const raw = Buffer.concat([Buffer.from('From: a@clinic.example\r\nSubject: [Secure] Ärztebrief 東京\r\n\r\n'), BODY]);
  const o2 = applyChanges(raw, { strip: ['[secure]'] });
  t.is(subjectOf(o2), 'Ärztebrief 東京');
  // a non-ASCII prefix and header value
  const o3 = applyChanges(mail(HEAD), { subjectPrefix: '[Geschützt]', headers: [['X-Note', 'geprüft']] });
  t.is(subjectOf(o3), '[Geschützt] [SECURE] Referral for Ms. Chen');
  t.is(libmime.decodeWords(headers(o3).find(([n]) => n === 'x-note')![1]), 'geprüft');
  for (const o of [o1, o2, o3]) {
    t.regex(split(o).head, /^[\x20-\x7e\r\n\t]*$/, 'the header block is 7-bit ASCII');
    t.true(split(o).body.equals(BODY));
  }
});

test('a long non-ASCII subject is folded: every header line within 78 characters, decoding to the same text', (t) => {
  const subject = 'Результаты анализов пациента и заключение врача по итогам обследования в клинике '.repeat(3).trim();
  const out = applyChanges(mail(`From: a@clinic.example\nSubject: [secure] ${subject}\nTo: b@lab.example`), { strip: ['[secure]'], subjectPrefix: '[EXTERNAL]' });
  const head = split(out).head;
  for (const line of head.split('\r\n')) t.true(line.length <= 78, `line of ${line.length}: ${line.slice(0, 40)}`);
  t.true(head.split('\r\n').length > 5, 'folded over several lines');
  t.is(subjectOf(out), `[EXTERNAL] ${subject}`);
  t.deepEqual(headers(out).map(([n]) => n), ['from', 'subject', 'to']);
  t.true(split(out).body.equals(BODY));
});

test('an LF-only message stays LF-only, its body identical', (t) => {
  const bodyLf = Buffer.from('Line one\n\nSubject: [secure] still body\n');
  const input = mail(HEAD, bodyLf, '\n');
  const out = applyChanges(input, { strip: ['[secure]'], subjectPrefix: '[EXTERNAL]', headers: [['X-A', '1']] });
  t.false(out.includes('\r'), 'no CR added');
  t.is(out.toString('latin1'), mail(HEAD.replace('[SECURE] Referral', '[EXTERNAL] Referral') + '\nX-A: 1', bodyLf, '\n').toString('latin1'));
  t.true(split(out).body.equals(bodyLf));
  // a long subject folds with LF too
  const long = applyChanges(mail(`From: a\nSubject: ${'Überweisung '.repeat(20)}`, bodyLf, '\n'), { subjectPrefix: '[X]' });
  t.false(long.includes('\r'));
  t.is(subjectOf(long), `[X] ${'Überweisung '.repeat(20).trim()}`);
});

test('a message without a Subject: a prefix adds one; stripping alone adds none', (t) => {
  const head = 'From: a@clinic.example\nTo: b@lab.example';
  const input = mail(head);
  const prefixed = applyChanges(input, { subjectPrefix: '[EXTERNAL]', strip: ['[secure]'] });
  t.is(prefixed.toString('latin1'), mail(head + '\nSubject: [EXTERNAL]').toString('latin1'));
  const stripped = applyChanges(input, { strip: ['[secure]'] });
  t.is(stripped.toString('latin1'), input.toString('latin1'), 'no empty Subject header added');
  // a header-only message (no blank line): the edit still lands in the header block
  const bare = applyChanges(Buffer.from('From: a@clinic.example\r\nSubject: hi'), { subjectPrefix: '[E]' });
  t.is(bare.toString('latin1'), 'From: a@clinic.example\r\nSubject: [E] hi\r\n\r\n');
});

test('no changes: the same bytes back; changesKey groups recipients with the same edits', (t) => {
  const input = mail(HEAD);
  t.is(applyChanges(input, undefined), input);
  t.is(applyChanges(input, {}), input);
  t.is(applyChanges(input, { strip: [], headers: [] }), input);
  t.false(hasChanges({ strip: [] }));
  t.true(hasChanges({ headers: [['X-A', '1']] }));
  t.is(changesKey(undefined), '');
  t.is(changesKey({ strip: [] }), '');
  t.is(changesKey({ subjectPrefix: '[E]' }), changesKey({ subjectPrefix: '[E]', strip: [] }));
  t.not(changesKey({ subjectPrefix: '[E]' }), changesKey({ subjectPrefix: '[F]' }));
  t.not(changesKey({ strip: ['[secure]'] }), changesKey({ headers: [['[secure]', '']] }));
});
