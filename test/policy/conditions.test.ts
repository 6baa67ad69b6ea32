// Policy conditions (compileWhen) one kind at a time, each holding and not holding, on messages built from real
// header bytes by policyMessage(): phi, scanFailed, findings (counts summed across parts), unscanned, sender and
// recipient tests with .txt/.csv lists, subject, header, attachment and size; and the `why` words for several.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ListenerName, ScanFacts, Finding, Unscanned } from '../../src/envelope.js';
import { compileWhen, type PolicyMessage } from '../../src/policy/conditions.js';
import { readList, type AddressList } from '../../src/policy/lists.js';
import { policyMessage } from '../../src/policy/message.js';

const dir = mkdtempSync(join(tmpdir(), 'phigate-cond-'));
writeFileSync(join(dir, 'partners.txt'), '# partners\nlab.example\n*.imaging.example   # and its subdomains\n\nDr.Who@Tardis.Example\n');
writeFileSync(join(dir, 'consent.csv'), 'patient_id,Email,signed_on\n# exported from the EHR\n1001,Maria.Lopez@Example.com,2026-03-02\n1002,  j.doe@example.net ,2026-04-01\n');

function list(name: string): AddressList {
  const r = readList(dir, name, { file: 'rules.yaml', line: 1, col: 1 });
  if (!r.list) throw new Error(r.problem?.message);
  return r.list;
}
const lists = new Map([['partners.txt', list('partners.txt')], ['consent.csv', list('consent.csv')]]);

const finding = (type: string, count: number, where = 'body'): Finding => ({ type, where, count, confidence: 0.9, sample: '***' });

function scan(p: Partial<ScanFacts> = {}): ScanFacts {
  return { phi: false, score: 0, reasons: [], findings: [], unscanned: [], scanMs: 1, bytesScanned: 100, attachments: [], ...p };
}

interface MsgOpts { sender?: string; listener?: ListenerName; user?: string; scan?: ScanFacts; headers?: string; size?: number }

function msg(o: MsgOpts = {}): PolicyMessage {
  const head = o.headers ?? 'From: a@clinic.example\r\nTo: p@example.org\r\nSubject: Appointment reminder';
  const raw = Buffer.from(`${head}\r\n\r\nSee you tomorrow.\r\n`);
  return policyMessage(
    { sender: o.sender ?? 'a@clinic.example', client: { listener: o.listener ?? 'submission', clientIp: '192.0.2.1', ...(o.user ? { user: o.user } : {}) }, size: o.size ?? raw.length },
    raw,
    o.scan ?? scan(),
  );
}

/** Runs a `when` on a message for a recipient: whether every condition holds, and each condition's words. */
function run(when: Record<string, unknown>, m: PolicyMessage, recipient = 'p@example.org') {
  const results = compileWhen(when, lists).map((c) => c.test(m, recipient));
  return { ok: results.length > 0 && results.every((r) => r.ok), why: results.map((r) => r.why), results };
}

test('phi holds when the scan says PHI, and not otherwise; the words say what the rule wanted', (t) => {
  const phi = msg({ scan: scan({ phi: true, findings: [finding('ssn', 1)] }) });
  const clean = msg();
  t.deepEqual(run({ phi: true }, phi), { ok: true, why: ['phi is true'], results: [{ ok: true, why: 'phi is true' }] });
  const no = run({ phi: true }, clean);
  t.false(no.ok);
  t.deepEqual(no.why, ['phi is false (rule wants true)']);
  t.true(run({ phi: false }, clean).ok);
  t.deepEqual(run({ phi: false }, phi).why, ['phi is true (rule wants false)']);
});

test('scanFailed reads the scan-failed reason, both ways', (t) => {
  const failed = msg({ scan: scan({ phi: true, reasons: ['scan-failed', 'scanner error'] }) });
  const done = msg({ scan: scan({ phi: true, reasons: ['identifier with health context'] }) });
  t.deepEqual(run({ scanFailed: true }, failed).why, ['the scan failed']);
  t.true(run({ scanFailed: true }, failed).ok);
  t.false(run({ scanFailed: true }, done).ok);
  t.deepEqual(run({ scanFailed: true }, done).why, ['the scan completed']);
  t.true(run({ scanFailed: false }, done).ok);
  t.false(run({ scanFailed: false }, failed).ok);
});

test('findings any / all / none name the types, and `types` lists only the types that made it hold', (t) => {
  const m = msg({ scan: scan({ phi: true, findings: [finding('ssn', 1), finding('dob', 2, 'attachment 1')] }) });
  const any = run({ findings: { any: ['mrn', 'ssn'] } }, m);
  t.true(any.ok);
  t.deepEqual(any.results[0], { ok: true, why: 'findings: found ssn', types: ['ssn'] });
  const anyNo = run({ findings: { any: 'mrn' } }, m);
  t.false(anyNo.ok);
  t.deepEqual(anyNo.why, ['findings: none of mrn found']);

  t.true(run({ findings: { all: ['ssn', 'dob'] } }, m).ok);
  t.deepEqual(run({ findings: { all: ['ssn', 'dob'] } }, m).results[0]!.types, ['ssn', 'dob']);
  const allNo = run({ findings: { all: ['ssn', 'mrn', 'npi'] } }, m);
  t.false(allNo.ok);
  t.deepEqual(allNo.why, ['findings: mrn, npi not found']);

  const noneNo = run({ findings: { none: ['dob', 'mrn'] } }, m);
  t.false(noneNo.ok);
  t.deepEqual(noneNo.why, ['findings: dob found, rule wants none']);
  t.true(run({ findings: { none: ['mrn', 'npi'] } }, m).ok);
  t.deepEqual(run({ findings: { none: ['mrn', 'npi'] } }, m).why, ['findings: none of mrn, npi found']);

  // all parts of one condition must hold
  const mixed = run({ findings: { any: ['ssn'], none: ['dob'] } }, m);
  t.false(mixed.ok);
  t.deepEqual(mixed.why, ['findings: found ssn; dob found, rule wants none']);
  t.false(run({ findings: { any: ['ssn'] } }, msg()).ok, 'a message with no findings');
});

test('findings min counts a type across every part of the message', (t) => {
  const five = msg({ scan: scan({ phi: true, findings: [finding('mrn', 2, 'body'), finding('mrn', 3, 'attachment 1: panel.xlsx'), finding('dob', 4, 'body')] }) });
  const r = run({ findings: { any: ['mrn', 'ssn'], min: 5 } }, five);
  t.true(r.ok);
  t.deepEqual(r.results[0], { ok: true, why: 'findings: found mrn (at least 5 each)', types: ['mrn'] });

  const four = msg({ scan: scan({ phi: true, findings: [finding('mrn', 2, 'body'), finding('mrn', 2, 'attachment 1')] }) });
  t.false(run({ findings: { any: ['mrn'], min: 5 } }, four).ok);
  t.deepEqual(run({ findings: { any: ['mrn'], min: 5 } }, four).why, ['findings: none of mrn found 5 or more times']);

  // all: each type must reach the count on its own (dob has 4)
  const all = run({ findings: { all: ['mrn', 'dob'], min: 5 } }, five);
  t.false(all.ok);
  t.deepEqual(all.why, ['findings: dob not found 5 or more times']);
  t.true(run({ findings: { all: ['mrn', 'dob'], min: 4 } }, five).ok);
});

test('findings with only min holds when some type reaches the count, not on every message', (t) => {
  const five = msg({ scan: scan({ phi: true, findings: [finding('mrn', 2), finding('mrn', 3, 'attachment 1')] }) });
  const few = msg({ scan: scan({ phi: true, findings: [finding('mrn', 2), finding('dob', 3)] }) });
  t.true(run({ findings: { min: 5 } }, five).ok);
  t.deepEqual(run({ findings: { min: 5 } }, five).results[0]!.types, ['mrn']);
  t.false(run({ findings: { min: 5 } }, few).ok, 'no single type reaches 5');
  t.deepEqual(run({ findings: { min: 5 } }, few).why, ['findings: no type found at least 5 times']);
  t.false(run({ findings: { min: 1 } }, msg()).ok, 'a message without findings');
});

test('unscanned: true/false, or a list of reasons', (t) => {
  const unreadable: Unscanned[] = [{ where: 'attachment 1', reason: 'image' }, { where: 'attachment 2', reason: 'image' }];
  const img = msg({ scan: scan({ phi: true, unscanned: unreadable }) });
  t.true(run({ unscanned: true }, img).ok);
  t.deepEqual(run({ unscanned: true }, img).why, ['2 part(s) could not be scanned']);
  t.false(run({ unscanned: true }, msg()).ok);
  t.deepEqual(run({ unscanned: true }, msg()).why, ['every part was scanned']);
  t.true(run({ unscanned: false }, msg()).ok);
  t.false(run({ unscanned: false }, img).ok);

  t.false(run({ unscanned: ['encrypted', 'zip-bomb'] }, img).ok);
  t.deepEqual(run({ unscanned: ['encrypted', 'zip-bomb'] }, img).why, ['no unscanned part is encrypted or zip-bomb']);
  const enc = msg({ scan: scan({ phi: true, unscanned: [...unreadable, { where: 'attachment 3', reason: 'encrypted' }] }) });
  t.true(run({ unscanned: ['encrypted', 'zip-bomb'] }, enc).ok);
  t.deepEqual(run({ unscanned: ['image'] }, enc).why, ['unscanned parts: image']);
});

test('sender and recipient addresses compare without regard to case', (t) => {
  const m = msg({ sender: 'Dr.Smith@CLINIC.example' });
  const r = run({ sender: { address: ['billing@clinic.example', 'DR.SMITH@clinic.EXAMPLE'] } }, m);
  t.true(r.ok);
  t.deepEqual(r.why, ['sender dr.smith@clinic.example is one of billing@clinic.example, dr.smith@clinic.example']);
  t.false(run({ sender: { address: 'billing@clinic.example' } }, m).ok);
  t.true(run({ recipient: { address: 'P@Example.ORG' } }, msg(), 'p@example.org').ok);
  t.true(run({ recipient: { address: 'p@example.org' } }, msg(), 'P@EXAMPLE.org').ok);
  t.deepEqual(run({ recipient: { address: 'p@example.org' } }, msg(), 'q@example.org').why, ['recipient q@example.org is not one of p@example.org']);
});

test('a domain entry covers its subdomains, never a look-alike; notDomain is its opposite', (t) => {
  const when = { recipient: { domain: 'Clinic.Example' } };
  t.true(run(when, msg(), 'a@clinic.example').ok);
  t.true(run(when, msg(), 'a@MAIL.clinic.example').ok);
  t.true(run(when, msg(), 'a@x.y.clinic.example').ok);
  t.false(run(when, msg(), 'a@otherclinic.example').ok);
  t.false(run(when, msg(), 'a@clinic.example.evil.test').ok);
  t.deepEqual(run(when, msg(), 'a@otherclinic.example').why, ['recipient domain otherclinic.example is not in clinic.example']);
  t.deepEqual(run(when, msg(), 'a@mail.clinic.example').why, ['recipient domain mail.clinic.example is in clinic.example']);
  t.true(run({ recipient: { domain: '*.clinic.example' } }, msg(), 'a@mail.clinic.example').ok);

  const not = { recipient: { notDomain: ['clinic.example', 'lab.example'] } };
  t.true(run(not, msg(), 'p@gmail.com').ok);
  t.false(run(not, msg(), 'p@eu.lab.example').ok);
  t.deepEqual(run(not, msg(), 'p@eu.lab.example').why, ['recipient domain eu.lab.example is in clinic.example, lab.example']);

  // the null sender <> has no domain: it is in no domain
  const bounce = msg({ sender: '' });
  t.false(run({ sender: { domain: 'clinic.example' } }, bounce).ok);
  t.deepEqual(run({ sender: { domain: 'clinic.example' } }, bounce).why, ['sender domain (none) is not in clinic.example']);
});

test('a .txt list holds domains (with subdomains) and addresses, any case, comments ignored', (t) => {
  const p = lists.get('partners.txt')!;
  t.deepEqual([...p.domains].sort(), ['imaging.example', 'lab.example']);
  t.deepEqual([...p.addresses], ['dr.who@tardis.example']);
  const when = { recipient: { in: 'partners.txt' } };
  t.true(run(when, msg(), 'results@LAB.example').ok);
  t.true(run(when, msg(), 'results@eu.lab.example').ok);
  t.true(run(when, msg(), 'x@ct.imaging.example').ok);
  t.true(run(when, msg(), 'dr.who@TARDIS.example').ok);
  t.false(run(when, msg(), 'master@tardis.example').ok, 'an address entry does not cover its domain');
  t.deepEqual(run(when, msg(), 'results@lab.example').why, ['recipient results@lab.example is in partners.txt']);
  t.deepEqual(run(when, msg(), 'master@tardis.example').why, ['recipient master@tardis.example is not in partners.txt']);
  t.false(run({ sender: { in: 'partners.txt' } }, msg({ sender: '' })).ok, 'the null sender is in no list');
});

test('a .csv list reads the email column named in its header row, and notIn is the opposite of in', (t) => {
  const c = lists.get('consent.csv')!;
  t.deepEqual([...c.addresses].sort(), ['j.doe@example.net', 'maria.lopez@example.com']);
  t.is(c.domains.size, 0, 'patient ids and dates are not read as domains');
  const when = { recipient: { notIn: 'consent.csv' } };
  t.false(run(when, msg(), 'maria.lopez@example.com').ok);
  t.deepEqual(run(when, msg(), 'Maria.Lopez@example.com').why, ['recipient maria.lopez@example.com is in consent.csv']);
  t.false(run(when, msg(), 'j.doe@example.net').ok);
  t.true(run(when, msg(), 'someone@example.com').ok);
  t.deepEqual(run(when, msg(), 'someone@example.com').why, ['recipient someone@example.com is not in consent.csv']);
  t.true(run({ recipient: { in: ['partners.txt', 'consent.csv'] } }, msg(), 'j.doe@example.net').ok);
  t.deepEqual(run({ recipient: { in: ['partners.txt', 'consent.csv'] } }, msg(), 'x@example.net').why, ['recipient x@example.net is not in partners.txt, consent.csv']);
});

test('sender user, listener and authenticated', (t) => {
  const frontdesk = msg({ user: 'FrontDesk', listener: 'submission' });
  const relay = msg({ listener: 'relay' });
  t.true(run({ sender: { user: ['frontdesk', 'billing'] } }, frontdesk).ok);
  t.false(run({ sender: { user: 'billing' } }, frontdesk).ok);
  t.false(run({ sender: { user: 'frontdesk' } }, relay).ok);
  t.deepEqual(run({ sender: { user: 'frontdesk' } }, relay).why, ['authenticated user (none) is not one of frontdesk']);

  t.true(run({ sender: { listener: ['submission', 'smtps'] } }, frontdesk).ok);
  t.false(run({ sender: { listener: ['submission', 'smtps'] } }, relay).ok);
  t.deepEqual(run({ sender: { listener: ['submission', 'smtps'] } }, relay).why, ['listener relay is not submission or smtps']);

  t.true(run({ sender: { authenticated: true } }, frontdesk).ok);
  t.false(run({ sender: { authenticated: true } }, relay).ok);
  t.deepEqual(run({ sender: { authenticated: true } }, relay).why, ['sender did not authenticate']);
  t.true(run({ sender: { authenticated: false } }, relay).ok);
  t.false(run({ sender: { authenticated: false } }, frontdesk).ok);

  // several tests in one sender condition must all hold
  const both = run({ sender: { domain: 'clinic.example', listener: 'relay' } }, frontdesk);
  t.false(both.ok);
  t.deepEqual(both.why, ['sender domain clinic.example is in clinic.example; listener submission is not relay']);
});

test('subject: contains (a plain string), equals, startsWith, endsWith, matches; RFC 2047 decoded; words carry no subject text', (t) => {
  const m = msg({ headers: 'From: a@clinic.example\r\nSubject:  [SECURE] =?UTF-8?Q?Befund_f=C3=BCr?= Maria\r\n Lopez' });
  t.is(m.subject, '[SECURE] Befund für Maria Lopez');
  t.true(run({ subject: 'befund FÜR' }, m).ok);
  t.true(run({ subject: { startsWith: '[secure]' } }, m).ok);
  t.true(run({ subject: { endsWith: 'lopez' } }, m).ok);
  t.true(run({ subject: { equals: '[secure] befund für maria lopez' } }, m).ok);
  t.false(run({ subject: { equals: '[secure] befund' } }, m).ok);
  t.true(run({ subject: { matches: '^\\[secure\\]\\s+befund' } }, m).ok);
  t.false(run({ subject: { matches: '^\\[secure\\]\\s+befund', caseSensitive: true } }, m).ok);
  t.false(run({ subject: { startsWith: '[secure]', caseSensitive: true } }, m).ok);
  t.true(run({ subject: { startsWith: '[SECURE]', caseSensitive: true } }, m).ok);
  t.false(run({ subject: 'invoice' }, m).ok);

  t.deepEqual(run({ subject: 'invoice' }, m).why, ['subject does not contain "invoice"']);
  t.deepEqual(run({ subject: { startsWith: '[secure]' } }, m).why, ['subject starts with "[secure]"']);
  t.deepEqual(run({ subject: { matches: '^x' } }, m).why, ['subject does not match /^x/']);
  t.deepEqual(run({ subject: { equals: 'x' } }, m).why, ['subject is not "x"']);
  for (const when of [{ subject: 'invoice' }, { subject: { startsWith: '[secure]' } }, { subject: { equals: 'x' } }]) {
    t.notRegex(run(when, m).why.join(' '), /Maria|Lopez|Befund/, 'no message content in the words');
  }
});

test('header: exists / absent, text tests and regex, name in any case, several headers all hold', (t) => {
  const campaign = msg({ headers: 'From: news@clinic.example\r\nx-campaign-id: Spring-2026\r\nSubject: News\r\nList-Unsubscribe: <mailto:u@clinic.example>' });
  const plain = msg();
  t.true(run({ header: { name: 'X-Campaign-Id', exists: true } }, campaign).ok);
  t.deepEqual(run({ header: { name: 'X-Campaign-Id', exists: true } }, campaign).why, ['header X-Campaign-Id is present']);
  t.false(run({ header: { name: 'X-Campaign-Id', exists: true } }, plain).ok);
  t.deepEqual(run({ header: { name: 'X-Campaign-Id', exists: true } }, plain).why, ['header X-Campaign-Id is absent']);
  t.true(run({ header: { name: 'X-Campaign-Id', exists: false } }, plain).ok);
  t.false(run({ header: { name: 'X-Campaign-Id', exists: false } }, campaign).ok);
  t.deepEqual(run({ header: { name: 'X-Campaign-Id', exists: false } }, campaign).why, ['header X-Campaign-Id is present']);

  t.true(run({ header: { name: 'X-Campaign-Id', matches: '^spring-\\d{4}$' } }, campaign).ok);
  t.deepEqual(run({ header: { name: 'X-Campaign-Id', matches: '^spring-\\d{4}$' } }, campaign).why, ['header X-Campaign-Id matches /^spring-\\d{4}$/']);
  t.false(run({ header: { name: 'X-Campaign-Id', matches: '^fall-' } }, campaign).ok);
  t.deepEqual(run({ header: { name: 'X-Campaign-Id', matches: '^fall-' } }, campaign).why, ['header X-Campaign-Id does not match /^fall-/']);
  t.false(run({ header: { name: 'X-Campaign-Id', matches: '^spring-' } }, plain).ok, 'a text test on an absent header does not hold');
  t.false(run({ header: { name: 'X-Campaign-Id', matches: '^spring-', caseSensitive: true } }, campaign).ok);
  t.true(run({ header: { name: 'x-campaign-id', exists: true, startsWith: 'spring' } }, campaign).ok);
  t.false(run({ header: { name: 'x-campaign-id', exists: true, startsWith: 'fall' } }, campaign).ok);

  const two = [{ name: 'X-Campaign-Id', exists: true }, { name: 'List-Unsubscribe', contains: 'mailto:' }];
  t.true(run({ header: two }, campaign).ok);
  t.is(run({ header: two }, campaign).results.length, 2);
  t.false(run({ header: [two[0]!, { name: 'Precedence', exists: true }] }, campaign).ok);
});

test('attachment: name (regex, any case) and declared type with a wildcard, on the same attachment', (t) => {
  const atts = [{ name: 'Patients.XLSX', type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' }, { name: 'scan.png', type: 'image/png' }];
  const m = msg({ scan: scan({ attachments: atts }) });
  const sheet = { attachment: { name: { matches: '\\.(xlsx|xls|csv)$' } } };
  t.true(run(sheet, m).ok);
  t.deepEqual(run(sheet, m).why, ['an attachment has a name that matches /\\.(xlsx|xls|csv)$/']);
  t.false(run(sheet, msg({ scan: scan({ attachments: [atts[1]!] }) })).ok);
  t.deepEqual(run(sheet, msg()).why, ['no attachment has a name that matches /\\.(xlsx|xls|csv)$/']);
  t.false(run(sheet, msg({ scan: scan({ attachments: undefined }) })).ok, 'no attachment list at all');

  t.true(run({ attachment: { type: 'image/*' } }, m).ok);
  t.deepEqual(run({ attachment: { type: 'image/*' } }, m).why, ['an attachment has type image/*']);
  t.false(run({ attachment: { type: 'image/*' } }, msg({ scan: scan({ attachments: [atts[0]!, { name: 'x', type: 'imagex/foo' }] }) })).ok);
  t.true(run({ attachment: { type: ['application/pdf', 'image/png'] } }, m).ok);
  t.false(run({ attachment: { type: 'application/pdf' } }, m).ok);
  t.true(run({ attachment: { type: 'Image/PNG' } }, m).ok, 'the rule\'s type in any case');

  // name and type must hold for one attachment, not one each
  t.false(run({ attachment: { name: { endsWith: '.xlsx' }, type: 'image/*' } }, m).ok);
  t.true(run({ attachment: { name: { endsWith: '.png' }, type: 'image/*' } }, m).ok);
  t.deepEqual(run({ attachment: { name: { endsWith: '.xlsx' }, type: 'image/*' } }, m).why, ['no attachment has a name that ends with ".xlsx" and type image/*']);
});

test('size over / under with units (KB = 1024 bytes), both ends exclusive', (t) => {
  const at = (size: number) => msg({ size });
  t.true(run({ size: { over: '1MB' } }, at(1024 * 1024 + 1)).ok);
  t.false(run({ size: { over: '1MB' } }, at(1024 * 1024)).ok);
  t.true(run({ size: { under: '20 KB' } }, at(20 * 1024 - 1)).ok);
  t.false(run({ size: { under: '20 KB' } }, at(20 * 1024)).ok);
  t.true(run({ size: { over: '1.5MB' } }, at(1572865)).ok);
  t.false(run({ size: { over: '1.5MB' } }, at(1572864)).ok);
  t.true(run({ size: { over: '1GB' } }, at(1024 ** 3 + 1)).ok);
  t.true(run({ size: { over: 500 } }, at(501)).ok);
  t.false(run({ size: { over: 500 } }, at(500)).ok);
  t.true(run({ size: { over: '100B' } }, at(101)).ok);
  const range = { size: { over: '1KB', under: '20KB' } };
  t.true(run(range, at(2000)).ok);
  t.deepEqual(run(range, at(2000)).why, ['size 2000 bytes is over 1024 and under 20480']);
  t.false(run(range, at(30000)).ok);
  t.deepEqual(run(range, at(30000)).why, ['size 30000 bytes is not over 1024 and under 20480']);
  t.false(run(range, at(1000)).ok);
});

test('every condition of a when must hold; an empty when compiles to no checks', (t) => {
  const m = msg({ scan: scan({ phi: true, findings: [finding('ssn', 1)] }) });
  t.true(run({ phi: true, recipient: { domain: 'gmail.com' } }, m, 'x@gmail.com').ok);
  t.false(run({ phi: true, recipient: { domain: 'gmail.com' } }, m, 'x@example.org').ok);
  t.deepEqual(compileWhen({}, lists), []);
  t.deepEqual(compileWhen({ phi: true, header: [{ name: 'A' }, { name: 'B' }], size: { over: 1 } }, lists).map((c) => c.key), ['phi', 'header', 'header', 'size']);
});
