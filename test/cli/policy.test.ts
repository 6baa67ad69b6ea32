// `phigate policy check` (exact file:line:col problems, exit 1, a one-line summary; the shipped folder passes) and `phigate policy test` (per-recipient rule, route and skipped rules on phi-corpus messages, no PHI values printed, errors).
import test from 'ava';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/gateway.js';
import { ENTITY_TYPES } from '../../src/envelope.js';
import { phigate, ONE_LINE_ERROR } from './kit.js';

const SHIPPED = join(ROOT, 'policies');
const CORPUS = join(ROOT, 'test', 'fixtures', 'phi-corpus');
const tmp = mkdtempSync(join(tmpdir(), 'phigate-policy-cli-'));

/** 1-based `line:col` of `needle` inside the first line of `text` that contains `lineMark`. */
function at(text: string, lineMark: string, needle = lineMark.trim()): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(lineMark));
  if (i < 0) throw new Error(`no line with ${lineMark}`);
  const col = lines[i]!.indexOf(needle);
  if (col < 0) throw new Error(`no ${needle} in line ${i + 1}`);
  return `${i + 1}:${col + 1}`;
}

function folder(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

// ---- policy check --------------------------------------------------------------------------------------------------

const KEYS = `rules:
  - id: typo-key
    when:
      recipent: { domain: example.net }
    then:
      deliver: verify
`;

const RULES = `rules:
  - id: bad-type
    when:
      findings: { any: [ssn, mrm] }
    then:
      encrypt: [tls]
  - id: bad-regex
    when:
      subject: { matches: "([unclosed" }
    then:
      deliver: verify
  - id: missing-list
    when:
      recipient: { in: nosuch-partners.txt }
    then:
      deliver: verify
  - id: two-routes
    when:
      sender: { domain: clinic.example }
    then:
      deliver: may
      reject: "not from here"
`;

const SHADOW = `rules:
  - id: phi-anywhere
    when:
      phi: true
    then:
      encrypt: [tls, portal]
  - id: phi-to-lab
    when:
      phi: true
      recipient: { domain: lab.example }
    then:
      deliver: verify
`;

/** V8's own words for the bad pattern (compiled case-insensitive, unicode), so a Node upgrade does not break the test. */
function regexError(pattern: string): string {
  try { new RegExp(pattern, 'iu'); } catch (e) { return (e as Error).message.replace(/^Invalid regular expression: /, ''); }
  throw new Error(`${pattern} compiles`);
}

test('policy check: each broken rule is one exact file:line:col line on stdout, exit 1 and a one-line summary', async (t) => {
  const dir = folder('broken', { '10-keys.yaml': KEYS, '20-rules.yaml': RULES, '30-shadow.yaml': SHADOW, 'consumer-domains.txt': 'gmail.com\n' });
  const k = join(dir, '10-keys.yaml');
  const r = join(dir, '20-rules.yaml');
  const s = join(dir, '30-shadow.yaml');
  const r1 = await phigate(['policy', 'check', '--policies', dir]);
  t.is(r1.code, 1, r1.stderr);
  t.deepEqual(r1.stdout.split('\n'), [
    `${k}:${at(KEYS, 'recipent:')} unknown key "recipent"; did you mean "recipient"? (expected one of: phi, scanFailed, findings, unscanned, sender, recipient, subject, header, attachment, size)`,
    `${r}:${at(RULES, 'any: [ssn, mrm]', 'mrm')} unknown finding type "mrm"; did you mean "mrn"? (known: ${ENTITY_TYPES.join(', ')})`,
    `${r}:${at(RULES, 'matches:', '"([unclosed"')} not a valid regular expression: ${regexError('([unclosed')}`,
    `${r}:${at(RULES, 'in: nosuch', 'nosuch-partners.txt')} list file "nosuch-partners.txt" not found in ${dir}`,
    `${r}:${at(RULES, 'reject:', '"not from here"')} "then" has both "deliver" and "reject"; a rule takes one route`,
    `${s}:${at(SHADOW, 'id: phi-to-lab', 'phi-to-lab')} rule "phi-to-lab" can never match: rule "phi-anywhere" (${s}:${at(SHADOW, 'id: phi-anywhere').split(':')[0]}) comes first and matches everything it matches`,
    '',
  ]);
  t.regex(r1.stderr, ONE_LINE_ERROR);
  t.is(r1.stderr, `phigate: 6 problem(s) in ${dir}; the gateway keeps the last good policy set until they are fixed\n`);
});

test('policy check: a good file alone passes; rules shadowed by a rule in an earlier file are reported', async (t) => {
  const good = `rules:\n  - id: ok\n    when:\n      phi: true\n    then:\n      encrypt: [tls]\n`;
  const ok = folder('only-good', { '10-good.yaml': good });
  const pass = await phigate(['policy', 'check', '--policies', ok]);
  t.is(pass.code, 0, pass.stderr);
  t.regex(pass.stdout, new RegExp(`^${ok.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: OK: 1 file\\(s\\), 1 rule\\(s\\), 0 list\\(s\\); policy version [0-9a-f]{16}\\n$`));
  t.is(pass.stderr, '');
  const bad = folder('good-and-shadow', { '10-good.yaml': good, '20-shadow.yaml': SHADOW });
  const fail = await phigate(['policy', 'check', '--policies', bad]);
  t.is(fail.code, 1);
  // rule "phi-anywhere" in 20-shadow.yaml is itself shadowed by "ok" (same `when`), and so is phi-to-lab
  t.deepEqual(fail.stdout.trim().split('\n').map((l) => l.replace(/ can never match.*/, '')), [
    `${join(bad, '20-shadow.yaml')}:${at(SHADOW, 'id: phi-anywhere', 'phi-anywhere')} rule "phi-anywhere"`,
    `${join(bad, '20-shadow.yaml')}:${at(SHADOW, 'id: phi-to-lab', 'phi-to-lab')} rule "phi-to-lab"`,
  ]);
  t.regex(fail.stdout, /rule "phi-anywhere" can never match: rule "ok" \(\S+10-good\.yaml:2\)/);
  t.is(fail.stderr, `phigate: 2 problem(s) in ${bad}; the gateway keeps the last good policy set until they are fixed\n`);
});

test('policy check on the shipped policies folder passes', async (t) => {
  const r = await phigate(['policy', 'check', '--policies', SHIPPED]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  const rules = (readFileSync(join(SHIPPED, '50-default.yaml'), 'utf8').match(/^ {2}- id: /gm) ?? []).length;
  t.true(rules > 0);
  t.regex(r.stdout, new RegExp(`^${SHIPPED.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: OK: 1 file\\(s\\), ${rules} rule\\(s\\), 0 list\\(s\\); policy version [0-9a-f]{16}\\n$`));
});

// ---- policy test ---------------------------------------------------------------------------------------------------

/** The shipped default plus the shipped examples as 20-examples.yaml, with the list files they name. */
const examplesDir = (() => {
  const dir = join(tmp, 'examples');
  mkdirSync(dir);
  copyFileSync(join(SHIPPED, 'examples.example.yaml'), join(dir, '20-examples.yaml'));
  copyFileSync(join(SHIPPED, '50-default.yaml'), join(dir, '50-default.yaml'));
  for (const f of readdirSync(SHIPPED).filter((n) => /\.(txt|csv)$/.test(n))) copyFileSync(join(SHIPPED, f), join(dir, f));
  return dir;
})();
const EXAMPLES = readFileSync(join(examplesDir, '20-examples.yaml'), 'utf8');
const DEFAULT = readFileSync(join(examplesDir, '50-default.yaml'), 'utf8');
const lineOf = (text: string, id: string) => Number(at(text, `- id: ${id}`).split(':')[0]);

interface Label { phi: boolean; types: string[] }
const labels = JSON.parse(readFileSync(join(CORPUS, 'labels.json'), 'utf8')) as Record<string, Label>;
const raw = (f: string) => readFileSync(join(CORPUS, f), 'latin1');
/** single-part messages only: no attachment the scanner might not read, no campaign header, no [secure] subject */
const plain = (f: string) => !/multipart\/mixed|Content-Disposition:\s*attachment/i.test(raw(f)) && !/^X-Campaign-Id:/im.test(raw(f)) && !/^Subject:\s*\[secure\]/im.test(raw(f));
function pick(what: string, ok: (l: Label, f: string) => boolean): string {
  const f = Object.keys(labels).sort().find((n) => ok(labels[n]!, n) && plain(n));
  if (!f) throw new Error(`no corpus message: ${what}`);
  return f;
}
const SSN_RE = /\b(\d{3})-(\d{2})-(\d{4})\b/;
const PHI_MSG = pick('PHI with an MRN and a DOB, no SSN', (l) => l.phi && l.types.includes('mrn') && l.types.includes('dob') && !l.types.includes('ssn'));
const CLEAN_MSG = pick('no PHI and no identifiers', (l) => !l.phi && l.types.length === 0);
const SSN_MSG = pick('an SSN written nnn-nn-nnnn', (l, f) => l.types.includes('ssn') && SSN_RE.test(raw(f)));

interface Explained {
  policyVersion: string;
  scan: { phi: boolean; findingTypes: string[]; unscanned: string[] };
  recipients: { recipient: string; rule: string; file: string; line: number; action: string; route: string; tls?: string; methods?: string[]; reason?: string; matched: string[]; notMatched: { rule: string; why: string }[] }[];
}

async function explain(file: string, to: string[]): Promise<Explained> {
  const r = await phigate(['policy', 'test', join(CORPUS, file), '--from', 'frontdesk@clinic.example', ...to.flatMap((a) => ['--to', a]), '--policies', examplesDir, '--json']);
  if (r.code !== 0) throw new Error(`policy test ${file} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Explained;
}

test('policy test --json: a PHI message to a personal, an own-domain and a partner recipient gets three different rules', async (t) => {
  const out = await explain(PHI_MSG, ['pat@gmail.com', 'nurse@clinic.example', 'results@lab.example']);
  t.true(out.scan.phi, `${PHI_MSG} is labelled PHI`);
  t.deepEqual(out.scan.unscanned, []);
  t.true(out.scan.findingTypes.includes('mrn'));
  t.deepEqual(out.recipients.map((r) => [r.recipient, r.rule, r.action]), [
    ['pat@gmail.com', 'phi-external', 'encrypt'],
    ['nurse@clinic.example', 'phi-protected', 'encrypt'],
    ['results@lab.example', 'lab-partner', 'deliver'],
  ]);
  const [gmail, own, partner] = out.recipients;
  // which file and line each rule comes from
  t.deepEqual([gmail!.file, gmail!.line], [join(examplesDir, '20-examples.yaml'), lineOf(EXAMPLES, 'phi-external')]);
  t.deepEqual([own!.file, own!.line], [join(examplesDir, '50-default.yaml'), lineOf(DEFAULT, 'phi-protected')]);
  t.deepEqual([partner!.file, partner!.line], [join(examplesDir, '20-examples.yaml'), lineOf(EXAMPLES, 'lab-partner')]);
  // the routes
  t.deepEqual(gmail!.methods, ['tls', 'portal']);
  t.deepEqual(own!.methods, ['tls', 'pgp', 'smime', 'portal']);
  t.is(partner!.tls, 'verify');
  // why they matched
  t.deepEqual(gmail!.matched, ['phi is true', 'recipient pat@gmail.com is not in our-domains.txt']);
  t.deepEqual(partner!.matched, ['recipient results@lab.example is in partners.txt']);
  // the rules before each decision that did not match, in file order, each with a reason
  t.deepEqual(gmail!.notMatched.map((n) => n.rule), ['secure-tag', 'lab-partner', 'no-ssn-to-personal', 'marketing-needs-consent', 'unscanned-to-personal', 'spreadsheets-out']);
  t.deepEqual(own!.notMatched.map((n) => n.rule), ['secure-tag', 'lab-partner', 'no-ssn-to-personal', 'marketing-needs-consent', 'unscanned-to-personal', 'spreadsheets-out', 'phi-external', 'external-tag']);
  t.deepEqual(partner!.notMatched.map((n) => n.rule), ['secure-tag']);
  t.is(own!.notMatched.find((n) => n.rule === 'phi-external')!.why, 'recipient nurse@clinic.example is in our-domains.txt');
  t.is(gmail!.notMatched.find((n) => n.rule === 'lab-partner')!.why, 'recipient pat@gmail.com is not in partners.txt');
  t.true(own!.notMatched.every((n) => n.why.length > 0));
});

test('policy test --json: a message without PHI is decided by the no-PHI rules', async (t) => {
  const out = await explain(CLEAN_MSG, ['pat@gmail.com', 'nurse@clinic.example']);
  t.false(out.scan.phi, `${CLEAN_MSG} is labelled not PHI`);
  const [ext, own] = out.recipients;
  // outside our domains: the example's external-tag (phi: false); inside: the default's no-phi
  t.deepEqual([ext!.rule, ext!.action, ext!.tls], ['external-tag', 'deliver', 'may']);
  t.deepEqual([own!.rule, own!.action, own!.tls], ['no-phi', 'deliver', 'may']);
  t.is(own!.file, join(examplesDir, '50-default.yaml'));
  t.true(own!.notMatched.some((n) => n.rule === 'phi-protected'), 'the PHI rule of the default file was looked at and skipped');
  t.true(own!.notMatched.some((n) => n.rule === 'external-tag' && /our-domains\.txt/.test(n.why)));
});

test('policy test: an SSN to a personal mailbox is rejected by no-ssn-to-personal, and no output shows the SSN', async (t) => {
  const out = await explain(SSN_MSG, ['someone@gmail.com']);
  t.true(out.scan.findingTypes.includes('ssn'), `the scanner finds the SSN in ${SSN_MSG}`);
  const d = out.recipients[0]!;
  t.is(d.rule, 'no-ssn-to-personal');
  t.is(d.action, 'reject');
  t.is(d.reason, 'Social Security numbers may not be sent to personal email addresses; use the patient portal');
  t.deepEqual(d.notMatched.map((n) => n.rule), ['secure-tag', 'lab-partner']);
  t.is(d.line, lineOf(EXAMPLES, 'no-ssn-to-personal'));

  const m = SSN_RE.exec(raw(SSN_MSG))!;
  const human = await phigate(['policy', 'test', join(CORPUS, SSN_MSG), '--from', 'payroll@clinic.example', '--to', 'someone@gmail.com', '--policies', examplesDir]);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /^someone@gmail\.com\n {2}rule: {4}no-ssn-to-personal \(/m);
  t.regex(human.stdout, /^ {2}route: {3}reject: /m);
  t.regex(human.stdout, /^ {2}skipped: secure-tag: /m);
  t.regex(human.stdout, /^ {2}skipped: lab-partner: /m);
  t.regex(human.stdout, /types: [^\n]*\bssn\b/);
  for (const v of [m[0], m[1]! + m[2]! + m[3]!, `${m[1]} ${m[2]} ${m[3]}`]) t.false(human.stdout.includes(v), `stdout has no form of the SSN (${v.length} characters)`);
  const json = JSON.stringify(out);
  t.false(json.includes(m[0]) || json.includes(m[1]! + m[2]! + m[3]!), 'nor does the JSON');
});

test('policy test: the PHI values of a message are not in the human output', async (t) => {
  const text = raw(PHI_MSG);
  const mrn = /MRN[:#\s]*([A-Z0-9-]{5,})/i.exec(text)?.[1];
  const dob = /DOB[:\s]*(\d{1,2}\/\d{1,2}\/\d{4})/i.exec(text)?.[1];
  t.truthy(mrn, `an MRN value in ${PHI_MSG}`);
  t.truthy(dob, `a DOB value in ${PHI_MSG}`);
  const r = await phigate(['policy', 'test', join(CORPUS, PHI_MSG), '--from', 'frontdesk@clinic.example', '--to', 'pat@gmail.com', '--policies', examplesDir]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^scan: PHI yes /m);
  t.regex(r.stdout, /^ {2}rule: {4}phi-external /m);
  t.false(r.stdout.includes(mrn!), 'no MRN');
  t.false(r.stdout.includes(dob!), 'no DOB');
  const subject = /^Subject: (.+)$/m.exec(text)![1]!.trim();
  t.false(r.stdout.includes(subject), 'no subject');
});

test('policy test errors: a missing --to, a file that is not a message, a policies folder with a problem', async (t) => {
  const msg = join(CORPUS, CLEAN_MSG);
  const noTo = await phigate(['policy', 'test', msg, '--from', 'a@clinic.example', '--policies', examplesDir]);
  t.is(noTo.code, 2);
  t.is(noTo.stdout, '');
  t.regex(noTo.stderr, ONE_LINE_ERROR);
  t.regex(noTo.stderr, /--to/);

  const notMail = join(tmp, 'notes.txt');
  writeFileSync(notMail, 'just some notes\nabout nothing\n');
  const bad = await phigate(['policy', 'test', notMail, '--from', 'a@clinic.example', '--to', 'b@gmail.com', '--policies', examplesDir]);
  t.is(bad.code, 2);
  t.is(bad.stdout, '');
  t.is(bad.stderr, `phigate: ${notMail}: not an email message (it does not start with a header block)\n`);
  const missing = await phigate(['policy', 'test', join(tmp, 'no-such.eml'), '--from', 'a@clinic.example', '--to', 'b@gmail.com', '--policies', examplesDir]);
  t.is(missing.code, 2);
  t.is(missing.stderr, `phigate: ${join(tmp, 'no-such.eml')}: cannot read: ENOENT\n`);

  const broken = folder('one-problem', { '10-keys.yaml': KEYS });
  const r = await phigate(['policy', 'test', msg, '--from', 'a@clinic.example', '--to', 'b@gmail.com', '--policies', broken]);
  t.is(r.code, 1);
  t.is(r.stdout, '', 'no decision is printed from a broken set');
  t.regex(r.stderr, ONE_LINE_ERROR);
  t.is(r.stderr, `phigate: ${join(broken, '10-keys.yaml')}:${at(KEYS, 'recipent:')} unknown key "recipent"; did you mean "recipient"? (expected one of: phi, scanFailed, findings, unscanned, sender, recipient, subject, header, attachment, size)\n`);

  const none = await phigate(['policy', 'test', msg, '--from', 'a@clinic.example', '--to', 'b@gmail.com', '--policies', join(tmp, 'no-such-dir')]);
  t.is(none.code, 1);
  t.is(none.stderr, `phigate: ${join(tmp, 'no-such-dir')}: no such policies folder\n`);
});
