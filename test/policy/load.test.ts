// Loading a policies folder (loadPolicySet): the exact `file:line:col message` problems for broken YAML, unknown
// keys and finding types (with did-you-mean), bad regular expressions, missing or headless list files, zero or two
// routes, duplicate ids and shadowed rules; file order and skipped files; the version hash; and the shipped
// policies/ folder, alone and with examples.example.yaml enabled, loading clean.
import test from 'ava';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ENTITY_TYPES } from '../../src/envelope.js';
import { loadPolicySet, policyFiles } from '../../src/policy/load.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const SHIPPED = join(ROOT, 'policies');
const KNOWN = ENTITY_TYPES.join(', ');

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-pol-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const load = (dir: string) => loadPolicySet(dir, { knownTypes: ENTITY_TYPES, now: 1 });

/** Problems as `NAME:LINE:COL message`, NAME relative to the folder. */
function problems(dir: string): string[] {
  const r = load(dir);
  return r.problems.map((p) => `${p.file.startsWith(dir + '/') ? p.file.slice(dir.length + 1) : p.file}:${p.line}:${p.col} ${p.message}`);
}

/** Asserts the folder does not load (no set) and has exactly these problems. */
function expectProblems(t: import('ava').ExecutionContext, files: Record<string, string>, expected: (dir: string) => string[]): void {
  const dir = folder(files);
  const r = load(dir);
  t.is(r.set, null, 'a set with problems is not used');
  t.deepEqual(problems(dir), expected(dir));
}

/** 1-based `line:col` of `needle` on the first line containing `lineMark`. */
function at(text: string, lineMark: string, needle = lineMark.trim()): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(lineMark));
  if (i < 0 || !lines[i]!.includes(needle)) throw new Error(`no line with ${lineMark} / ${needle}`);
  return `${i + 1}:${lines[i]!.indexOf(needle) + 1}`;
}

test('a good folder loads: rules in order, lists named, no problems (control for the cases below)', (t) => {
  const dir = folder({
    'a.yaml': 'rules:\n  - id: x\n    when:\n      recipient: { in: ok.txt, notIn: [consent.csv] }\n      findings: { any: [ssn] }\n      subject: { matches: "^\\\\[secure\\\\]" }\n    then:\n      reject: "no"\n',
    'ok.txt': 'a.example\n', 'consent.csv': 'id,email\n1,p@example.org\n',
  });
  const r = load(dir);
  t.deepEqual(r.problems, []);
  t.deepEqual(r.set?.rules.map((x) => [x.id, x.line, x.col]), [['x', 2, 9]]);
  t.deepEqual(r.set?.lists, ['consent.csv', 'ok.txt']);
  t.deepEqual(r.set?.files, ['a.yaml']);
  t.is(r.set?.loadedAt, 1);
  t.regex(r.set!.version, /^[0-9a-f]{16}$/);
});

test('YAML syntax errors: where the parser stops, with its message', (t) => {
  const colon = 'rules:\n  - id: x\n    then:\n      reject: no: really\n';
  expectProblems(t, { 'a.yaml': colon }, () => [`a.yaml:${at(colon, 'reject:', 'no:')} Nested mappings are not allowed in compact mappings`]);
  const dupKey = 'rules:\n  - id: x\n    then:\n      reject: "no"\n      reject: "yes"\n';
  expectProblems(t, { 'a.yaml': dupKey }, () => [`a.yaml:5:7 Map keys must be unique`]);
  expectProblems(t, { 'a.yaml': 'rules:\n  - id: x\n\tthen:\n      reject: "no"\n' }, () => ['a.yaml:3:1 Tabs are not allowed as indentation']);
  // a file that parses but is not a mapping
  expectProblems(t, { 'a.yaml': '- id: x\n  then: { reject: "no" }\n' }, () => ['a.yaml:1:1 a policy file is a mapping with a "rules" list']);
});

test('an unknown key in `when` names the key with a did-you-mean and the allowed keys', (t) => {
  const text = 'rules:\n  - id: x\n    when:\n      phi: true\n      recipent: { domain: gmail.com }\n    then:\n      reject: "no"\n';
  expectProblems(t, { 'a.yaml': text }, () => [
    `a.yaml:${at(text, 'recipent:')} unknown key "recipent"; did you mean "recipient"? (expected one of: phi, scanFailed, findings, unscanned, sender, recipient, subject, header, attachment, size)`,
  ]);
});

test('an unknown finding type names the type with a did-you-mean and the known types, in a list or alone', (t) => {
  const list = 'rules:\n  - id: x\n    when:\n      findings: { any: [mrn, snn] }\n    then:\n      reject: "no"\n';
  expectProblems(t, { 'a.yaml': list }, () => [`a.yaml:${at(list, 'findings:', 'snn')} unknown finding type "snn"; did you mean "ssn"? (known: ${KNOWN})`]);
  const alone = 'rules:\n  - id: x\n    when:\n      findings:\n        none: diagnosis_code\n    then:\n      reject: "no"\n';
  expectProblems(t, { 'a.yaml': alone }, () => [`a.yaml:${at(alone, 'none:', 'diagnosis_code')} unknown finding type "diagnosis_code" (known: ${KNOWN})`]);
  // an organisation's own type is known when the caller says so
  const dir = folder({ 'a.yaml': 'rules:\n  - id: x\n    when:\n      findings: { any: [employee_id] }\n    then:\n      reject: "no"\n' });
  t.deepEqual(loadPolicySet(dir, { knownTypes: [...ENTITY_TYPES, 'employee_id'] }).problems, []);
});

test('a bad regular expression is reported where it is written: subject, header, attachment name', (t) => {
  const text = `rules:
  - id: x
    when:
      subject: { matches: "^(secure" }
      header:
        - { name: X-A, exists: true }
        - { name: X-B, matches: "[a-" }
      attachment: { name: { matches: "*.xlsx" } }
    then:
      reject: "no"
`;
  expectProblems(t, { 'a.yaml': text }, () => [
    `a.yaml:${at(text, 'subject:', '"^(secure"')} not a valid regular expression: /^(secure/iu: Unterminated group`,
    `a.yaml:${at(text, 'X-B', '"[a-"')} not a valid regular expression: /[a-/iu: Unterminated character class`,
    `a.yaml:${at(text, 'attachment:', '"*.xlsx"')} not a valid regular expression: /*.xlsx/iu: Nothing to repeat`,
  ]);
});

test('list files: missing, not a .txt/.csv name in the folder, and a csv without an address or email column', (t) => {
  const missing = 'rules:\n  - id: x\n    when:\n      recipient: { in: partners.txt }\n    then:\n      reject: "no"\n';
  expectProblems(t, { 'a.yaml': missing }, (dir) => [`a.yaml:${at(missing, 'in:', 'partners.txt')} list file "partners.txt" not found in ${dir}`]);

  const path = 'rules:\n  - id: x\n    when:\n      sender: { notIn: ../partners.txt }\n    then:\n      reject: "no"\n';
  expectProblems(t, { 'a.yaml': path }, () => [`a.yaml:${at(path, 'notIn:', '../partners.txt')} list "../partners.txt" must be a .txt or .csv file name in the policies folder`]);

  const csv = 'rules:\n  - id: x\n    when:\n      recipient:\n        notIn: [ok.txt, consent.csv]\n    then:\n      reject: "no"\n';
  expectProblems(t, { 'a.yaml': csv, 'ok.txt': 'a.example\n', 'consent.csv': 'patient_id,name,signed_on\n1001,Maria Lopez,2026-03-02\n' }, () => [
    `a.yaml:${at(csv, 'notIn:', 'consent.csv')} list file "consent.csv" needs a header row naming the address column (address or email or e-mail or mail)`,
  ]);
});

test('`then` with two route actions, and with none', (t) => {
  const two = 'rules:\n  - id: x\n    then:\n      deliver: may\n      encrypt: [tls]\n';
  // points at the second route's value
  expectProblems(t, { 'a.yaml': two }, () => [`a.yaml:${at(two, 'encrypt:', '[tls]')} "then" has both "deliver" and "encrypt"; a rule takes one route`]);
  const none = 'rules:\n  - id: x\n    when: { phi: true }\n    then:\n      tag: { subject: "[X]" }\n      notify: { to: sender }\n';
  expectProblems(t, { 'a.yaml': none }, () => [`a.yaml:${at(none, 'tag:')} "then" needs one of deliver, encrypt, reject, quarantine (tag, strip and notify go beside one of them)`]);
});

test('a rule id used twice, across two files, is reported at the second with the first\'s place', (t) => {
  const a = 'rules:\n  - id: phi-out\n    when: { phi: true }\n    then: { deliver: verify }\n';
  const b = 'rules:\n  - id: other\n    when: { phi: false }\n    then: { deliver: may }\n  - id: phi-out\n    when: { unscanned: true }\n    then: { deliver: verify }\n';
  expectProblems(t, { '10-a.yaml': a, '20-b.yaml': b }, (dir) => [`20-b.yaml:5:9 rule id "phi-out" is already used at ${join(dir, '10-a.yaml')}:2:9`]);
});

test('shadowed rules: after a catch-all, and after a rule whose conditions are a subset of its own', (t) => {
  const catchAll = 'rules:\n  - id: everything\n    then: { deliver: may }\n  - id: later\n    when: { phi: true }\n    then: { reject: "x" }\n';
  expectProblems(t, { 'a.yaml': catchAll }, (dir) => [
    `a.yaml:${at(catchAll, 'id: later', 'later')} rule "later" can never match: rule "everything" (${join(dir, 'a.yaml')}:2) comes first and matches everything it matches`,
  ]);
  // phi-gmail has phi (phi's only condition) and more: phi always decides first. not-subset differs in a value.
  const subset = `rules:
  - id: phi
    when:
      phi: true
    then: { encrypt: [tls] }
  - id: not-subset
    when:
      phi: false
      recipient: { domain: gmail.com }
    then: { reject: "x" }
  - id: phi-gmail
    when:
      recipient: { domain: gmail.com }
      phi: true
    then: { reject: "x" }
`;
  expectProblems(t, { 'a.yaml': subset }, (dir) => [
    `a.yaml:${at(subset, 'id: phi-gmail', 'phi-gmail')} rule "phi-gmail" can never match: rule "phi" (${join(dir, 'a.yaml')}:2) comes first and matches everything it matches`,
  ]);
  // the same rules with the narrower one first load fine; a catch-all in a later file shadows nothing before it
  const dir = folder({ '10-a.yaml': 'rules:\n  - id: phi-gmail\n    when: { phi: true, recipient: { domain: gmail.com } }\n    then: { reject: "x" }\n  - id: phi\n    when: { phi: true }\n    then: { encrypt: [tls] }\n', '50-b.yaml': 'rules:\n  - id: rest\n    then: { deliver: may }\n' });
  t.deepEqual(problems(dir), []);
});

test('every problem of every file is reported, sorted by file and place', (t) => {
  const a = 'rules:\n  - id: x\n    when:\n      findings: { any: snn }\n      recipent: { domain: a.example }\n    then:\n      reject: "no"\n';
  const b = 'rules:\n  - id: y\n    when:\n      findings: { all: [ssn, mrm] }\n    then:\n      deliver: may\n      quarantine: "held"\n';
  expectProblems(t, { '20-b.yaml': b, '10-a.yaml': a }, () => [
    `10-a.yaml:${at(a, 'recipent:')} unknown key "recipent"; did you mean "recipient"? (expected one of: phi, scanFailed, findings, unscanned, sender, recipient, subject, header, attachment, size)`,
    `20-b.yaml:${at(b, 'findings:', 'mrm')} unknown finding type "mrm"; did you mean "mrn"? (known: ${KNOWN})`,
    `20-b.yaml:${at(b, 'quarantine:', '"held"')} "then" has both "deliver" and "quarantine"; a rule takes one route`,
  ]);
});

test('files are read in name order; *.example.yaml, detectors.yaml, folders and other files are skipped', (t) => {
  const rule = (id: string, cond: string) => `rules:\n  - id: ${id}\n    when: { ${cond} }\n    then: { deliver: verify }\n`;
  const dir = folder({
    '50-default.yaml': rule('fifty', 'phi: true'),
    '10-first.yml': rule('ten', 'unscanned: true'),
    '20-second.yaml': rule('twenty', 'scanFailed: true'),
    'examples.example.yaml': 'rules:\n  - id: broken\n    when: { recipent: {} }\n',
    'detectors.yaml': 'detectors:\n  - id: lakeview-mrn\n    type: mrn\n    pattern: x\n',
    'notes.txt': 'not a list anyone uses\n',
    'README.md': '# policies\n',
  });
  mkdirSync(join(dir, '30-folder.yaml'));
  t.deepEqual(policyFiles(dir), ['10-first.yml', '20-second.yaml', '50-default.yaml']);
  const r = load(dir);
  t.deepEqual(r.problems, []);
  t.deepEqual(r.set?.files, ['10-first.yml', '20-second.yaml', '50-default.yaml']);
  t.deepEqual(r.set?.rules.map((x) => [x.id, x.file]), [['ten', join(dir, '10-first.yml')], ['twenty', join(dir, '20-second.yaml')], ['fifty', join(dir, '50-default.yaml')]]);
  t.deepEqual(policyFiles(join(dir, 'no-such-folder')), []);
});

test('the version hash is stable, and changes when a policy or a list file it uses changes', (t) => {
  const policy = 'rules:\n  - id: lab\n    when: { recipient: { in: partners.txt } }\n    then: { deliver: verify }\n';
  const dir = folder({ 'a.yaml': policy, 'partners.txt': 'lab.example\n', 'unused.txt': 'x.example\n' });
  const v1 = load(dir).set!.version;
  t.is(load(dir).set!.version, v1, 'same files, same version');
  writeFileSync(join(dir, 'unused.txt'), 'y.example\n');
  t.is(load(dir).set!.version, v1, 'a file no rule uses is not part of the set');
  writeFileSync(join(dir, 'partners.txt'), 'lab.example\nimaging.example\n');
  const v2 = load(dir).set!.version;
  t.not(v2, v1, 'a list file change is a new version');
  writeFileSync(join(dir, 'partners.txt'), 'lab.example\n');
  t.is(load(dir).set!.version, v1, 'back to the same bytes, back to the same version');
  writeFileSync(join(dir, 'a.yaml'), policy.replace('lab', 'lab-partner'));
  t.not(load(dir).set!.version, v1, 'a policy file change is a new version');
});

test('the shipped policies/ folder loads with no problems', (t) => {
  const r = load(SHIPPED);
  t.deepEqual(r.problems, []);
  t.deepEqual(r.set?.files, ['50-default.yaml']);
  t.deepEqual(r.set?.rules.map((x) => x.id), ['phi-protected', 'unscanned-protected', 'no-phi']);
  t.deepEqual(r.set?.rules.map((x) => x.route), [
    { rule: 'phi-protected', action: 'encrypt', methods: ['tls', 'pgp', 'smime', 'portal'] },
    { rule: 'unscanned-protected', action: 'encrypt', methods: ['tls', 'pgp', 'smime', 'portal'] },
    { rule: 'no-phi', action: 'deliver', tls: 'may' },
  ]);
});

test('the shipped examples, enabled as 20-examples.yaml beside the shipped default and list files, load with no problems', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-pol-'));
  for (const name of readdirSync(SHIPPED)) copyFileSync(join(SHIPPED, name), join(dir, name));
  copyFileSync(join(SHIPPED, 'examples.example.yaml'), join(dir, '20-examples.yaml'));
  const r = load(dir);
  t.deepEqual(r.problems, []);
  t.deepEqual(r.set?.files, ['20-examples.yaml', '50-default.yaml']);
  t.deepEqual(r.set?.rules.map((x) => x.id), [
    'secure-tag', 'lab-partner', 'no-ssn-to-personal', 'marketing-needs-consent', 'unscanned-to-personal', 'spreadsheets-out', 'phi-external', 'external-tag',
    'phi-protected', 'unscanned-protected', 'no-phi',
  ]);
  t.deepEqual(r.set?.lists, ['consumer-domains.txt', 'marketing-consent.csv', 'our-domains.txt', 'partners.txt']);
  const secure = r.set!.rules[0]!;
  t.deepEqual(secure.route, { rule: 'secure-tag', action: 'encrypt', methods: ['portal'], changes: { strip: ['[secure]'] } });
  t.deepEqual(r.set!.rules.find((x) => x.id === 'no-ssn-to-personal')?.notify, { to: ['sender', 'privacy@clinic.example'] });
  t.true(r.set!.rules.find((x) => x.id === 'no-ssn-to-personal')?.route.notifySender);
});
