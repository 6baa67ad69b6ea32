// Policy evaluation over sets loaded from real policy folders: first matching rule wins (across files, in name
// order), each recipient of one message gets its own rule, explain lists the earlier rules with their first
// failing condition, the built-in default for PHI / non-PHI / unscanned, the fail-safe for failed scans, and
// the finding types a decision reports for the audit.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENTITY_TYPES, type ScanFacts, type Finding } from '../../src/envelope.js';
import { evaluate, mayRefuse, FAIL_SAFE_METHODS } from '../../src/policy/evaluate.js';
import { loadPolicySet } from '../../src/policy/load.js';
import { policyMessage } from '../../src/policy/message.js';
import { DEFAULT_RULE_ID, EMPTY_POLICY_SET, type PolicySet } from '../../src/policy/rule-set.js';

function setFrom(files: Record<string, string>): { set: PolicySet; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-eval-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const r = loadPolicySet(dir, { knownTypes: ENTITY_TYPES, now: 1 });
  if (!r.set) throw new Error(r.problems.map((p) => `${p.file}:${p.line}:${p.col} ${p.message}`).join('\n'));
  return { set: r.set, dir };
}

const finding = (type: string, count = 1, where = 'body'): Finding => ({ type, where, count, confidence: 0.9, sample: '***' });
function scan(p: Partial<ScanFacts> = {}): ScanFacts {
  return { phi: false, score: 0, reasons: [], findings: [], unscanned: [], scanMs: 1, bytesScanned: 100, attachments: [], ...p };
}
const PHI = scan({ phi: true, score: 0.9, reasons: ['identifier with health context'], findings: [finding('ssn'), finding('dob', 2), finding('condition')] });

function message(s: ScanFacts, opts: { sender?: string; subject?: string } = {}) {
  const raw = Buffer.from(`From: a@clinic.example\r\nSubject: ${opts.subject ?? 'Results'}\r\n\r\nHello\r\n`);
  return policyMessage({ sender: opts.sender ?? 'a@clinic.example', client: { listener: 'submission', clientIp: '192.0.2.1', user: 'frontdesk' }, size: raw.length }, raw, s);
}

const RULES = `rules:
  - id: lab-partner
    description: The lab gets everything over verified TLS
    when:
      recipient: { in: partners.txt }
    then:
      deliver: verify
  - id: no-ssn-to-personal
    when:
      findings: { any: [ssn, mbi] }
      recipient: { domain: [gmail.com, yahoo.com] }
    then:
      reject: "No SSNs to personal mailboxes"
      notify: { to: [sender, privacy@clinic.example], text: "see the log" }
`;
const DEFAULTS = `rules:
  - id: phi-protected
    when:
      phi: true
    then:
      encrypt: [tls, portal]
  - id: no-phi
    then:
      deliver: may
`;

test('the first matching rule wins, across files read in name order', (t) => {
  const { set, dir } = setFrom({
    '20-second.yaml': 'rules:\n  - id: second\n    when: { phi: true }\n    then: { reject: "second" }\n',
    '10-first.yaml': 'rules:\n  - id: first\n    when: { phi: true, sender: { domain: clinic.example } }\n    then: { quarantine: "first" }\n',
  });
  t.deepEqual(set.rules.map((r) => r.id), ['first', 'second']);
  const [d] = evaluate(set, message(PHI), ['p@example.org']);
  t.is(d!.rule.id, 'first');
  t.deepEqual(d!.rule, { id: 'first', description: '', file: join(dir, '10-first.yaml'), line: 2 });
  t.deepEqual(d!.route, { rule: 'first', action: 'quarantine', reason: 'first' });
  t.deepEqual(d!.matched, ['phi is true', 'sender domain clinic.example is in clinic.example']);
  // when the first rule does not hold, the next one decides
  const [e] = evaluate(set, message(PHI, { sender: 'x@other.example' }), ['p@example.org']);
  t.is(e!.rule.id, 'second');
  t.deepEqual(e!.route, { rule: 'second', action: 'reject', reason: 'second' });
});

test('each recipient of one message gets its own rule', (t) => {
  const { set, dir } = setFrom({ '10-rules.yaml': RULES, '50-default.yaml': DEFAULTS, 'partners.txt': 'lab.example\n' });
  const ds = evaluate(set, message(PHI), ['results@eu.lab.example', 'Pat@GMAIL.com', 'p@example.org']);
  t.deepEqual(ds.map((d) => [d.recipient, d.rule.id, d.route.action]), [
    ['results@eu.lab.example', 'lab-partner', 'deliver'],
    ['Pat@GMAIL.com', 'no-ssn-to-personal', 'reject'],
    ['p@example.org', 'phi-protected', 'encrypt'],
  ]);
  t.deepEqual(ds[0]!.route, { rule: 'lab-partner', action: 'deliver', tls: 'verify' });
  t.deepEqual(ds[0]!.rule, { id: 'lab-partner', description: 'The lab gets everything over verified TLS', file: join(dir, '10-rules.yaml'), line: 2 });
  t.deepEqual(ds[1]!.route, { rule: 'no-ssn-to-personal', action: 'reject', reason: 'No SSNs to personal mailboxes', notifySender: true });
  t.deepEqual(ds[1]!.notify, { to: ['sender', 'privacy@clinic.example'], text: 'see the log' });
  t.deepEqual(ds[1]!.matched, ['findings: found ssn', 'recipient domain gmail.com is in gmail.com, yahoo.com']);
  t.deepEqual(ds[2]!.route, { rule: 'phi-protected', action: 'encrypt', methods: ['tls', 'portal'] });
  t.is(ds[2]!.notify, undefined);
  // the same recipients without PHI: the gmail recipient is no longer refused
  const clean = evaluate(set, message(scan()), ['results@lab.example', 'pat@gmail.com']);
  t.deepEqual(clean.map((d) => d.rule.id), ['lab-partner', 'no-phi']);
  t.deepEqual(clean[1]!.matched, ['no conditions: matches every message']);
});

test('explain lists each earlier rule with its first failing condition, not the first condition', (t) => {
  const { set, dir } = setFrom({ '10-rules.yaml': RULES, '50-default.yaml': DEFAULTS, 'partners.txt': 'lab.example\n' });
  const [d] = evaluate(set, message(PHI), ['p@example.org'], { explain: true });
  t.is(d!.rule.id, 'phi-protected');
  t.deepEqual(d!.notMatched, [
    { rule: { id: 'lab-partner', description: 'The lab gets everything over verified TLS', file: join(dir, '10-rules.yaml'), line: 2 }, why: 'recipient p@example.org is not in partners.txt' },
    // findings holds; the recipient condition is the one that fails
    { rule: { id: 'no-ssn-to-personal', description: '', file: join(dir, '10-rules.yaml'), line: 8 }, why: 'recipient domain example.org is not in gmail.com, yahoo.com' },
  ]);
  // a rule whose first condition fails names that one
  const [c] = evaluate(set, message(scan()), ['p@gmail.com'], { explain: true });
  t.is(c!.rule.id, 'no-phi');
  t.deepEqual(c!.notMatched!.map((n) => [n.rule.id, n.why]), [
    ['lab-partner', 'recipient p@gmail.com is not in partners.txt'],
    ['no-ssn-to-personal', 'findings: none of ssn, mbi found'],
    ['phi-protected', 'phi is false (rule wants true)'],
  ]);
  // the first rule matching has nothing before it; without explain there is no list
  t.deepEqual(evaluate(set, message(PHI), ['a@lab.example'], { explain: true })[0]!.notMatched, []);
  t.false('notMatched' in evaluate(set, message(PHI), ['p@example.org'])[0]!);
});

test('no rule matches: the built-in default protects PHI and unscanned parts, and lets other mail go', (t) => {
  const { set } = setFrom({ '10-rules.yaml': RULES, 'partners.txt': 'lab.example\n' });
  for (const s of [set, EMPTY_POLICY_SET]) {
    const [phi] = evaluate(s, message(PHI), ['p@example.org'], { explain: true });
    t.is(phi!.rule.id, DEFAULT_RULE_ID);
    t.is(phi!.rule.file, null);
    t.is(phi!.rule.line, null);
    t.deepEqual(phi!.route, { rule: DEFAULT_RULE_ID, action: 'encrypt', methods: ['tls', 'pgp', 'smime', 'portal'] });
    t.deepEqual(phi!.matched, ['the message may hold PHI']);
    t.deepEqual(phi!.types, ['condition', 'dob', 'ssn']);
    t.is(phi!.notMatched!.length, s.rules.length, 'explain lists every rule');

    const [clean] = evaluate(s, message(scan()), ['p@example.org']);
    t.deepEqual(clean!.route, { rule: DEFAULT_RULE_ID, action: 'deliver' });
    t.deepEqual(clean!.matched, ['the message holds no PHI']);
    t.deepEqual(clean!.types, []);

    // an image the scanner could not read may hold PHI, though nothing was found
    const [img] = evaluate(s, message(scan({ unscanned: [{ where: 'attachment 1', reason: 'image' }] })), ['p@example.org']);
    t.deepEqual(img!.route, { rule: DEFAULT_RULE_ID, action: 'encrypt', methods: ['tls', 'pgp', 'smime', 'portal'] });
    t.deepEqual(img!.matched, ['the message may hold PHI']);
  }
  t.deepEqual(evaluate(set, message(PHI), ['a@lab.example'])[0]!.rule.id, 'lab-partner', 'a matching rule still decides');
});

test('a failed scan turns a plain deliver route into the protected methods; stronger routes stay', (t) => {
  const { set } = setFrom({
    '10-rules.yaml': `rules:
  - id: internal
    when:
      recipient: { domain: clinic.example }
    then:
      deliver: may
      tag: { subject: "[INTERNAL]" }
  - id: lab
    when:
      recipient: { domain: lab.example }
    then:
      deliver: verify
  - id: personal
    when:
      recipient: { domain: gmail.com }
    then:
      quarantine: "held"
  - id: everyone
    then:
      encrypt: [tls]
`,
  });
  const failed = scan({ phi: true, score: 1, reasons: ['scan-failed', 'scanner error'] });
  const ds = evaluate(set, message(failed), ['b@clinic.example', 'r@lab.example', 'p@gmail.com', 'x@example.org']);
  t.deepEqual(ds[0]!.route, { rule: 'internal', action: 'encrypt', methods: [...FAIL_SAFE_METHODS], changes: { subjectPrefix: '[INTERNAL]' } });
  t.deepEqual(FAIL_SAFE_METHODS, ['tls', 'pgp', 'smime', 'portal']);
  t.is(ds[0]!.rule.id, 'internal', 'the rule is still named');
  t.deepEqual(ds[0]!.matched, ['recipient domain clinic.example is in clinic.example', 'the scan failed: sent only protected (verified TLS, PGP, S/MIME or the portal)']);
  t.deepEqual(ds[1]!.route, { rule: 'lab', action: 'encrypt', methods: ['tls', 'pgp', 'smime', 'portal'] });
  t.deepEqual(ds[2]!.route, { rule: 'personal', action: 'quarantine', reason: 'held' });
  t.deepEqual(ds[3]!.route, { rule: 'everyone', action: 'encrypt', methods: ['tls'] }, 'an encrypt route keeps its own methods');

  // the loaded rule is not changed: the next message, scanned fine, is delivered as the rule says
  const [ok] = evaluate(set, message(scan()), ['b@clinic.example']);
  t.deepEqual(ok!.route, { rule: 'internal', action: 'deliver', tls: 'may', changes: { subjectPrefix: '[INTERNAL]' } });
  t.deepEqual(set.rules[0]!.route, { rule: 'internal', action: 'deliver', tls: 'may', changes: { subjectPrefix: '[INTERNAL]' } });

  // the fail-safe reads the scan-failed reason, also when no rule matches
  const [dflt] = evaluate(EMPTY_POLICY_SET, message(scan({ phi: false, reasons: ['scan-failed'] })), ['x@example.org']);
  t.is(dflt!.route.action, 'encrypt');
  t.deepEqual(dflt!.route.methods, ['tls', 'pgp', 'smime', 'portal']);
  t.deepEqual(dflt!.matched, ['the message may hold PHI'], 'a failed scan counts as possible PHI');
});

test('finding types for the audit: the types a findings condition matched, the message\'s for a phi condition', (t) => {
  const { set } = setFrom({
    '10-rules.yaml': `rules:
  - id: ssn-or-mbi
    when:
      recipient: { domain: a.example }
      findings: { any: [mbi, ssn, mrn] }
    then: { reject: "no" }
  - id: all-ids
    when:
      recipient: { domain: b.example }
      findings: { all: [dob, ssn] }
    then: { reject: "no" }
  - id: phi
    when:
      recipient: { domain: c.example }
      phi: true
    then: { encrypt: [tls] }
  - id: no-findings-condition
    when:
      recipient: { domain: d.example }
    then: { encrypt: [tls] }
`,
  });
  const ds = evaluate(set, message(PHI), ['x@a.example', 'x@b.example', 'x@c.example', 'x@d.example', 'x@e.example']);
  t.deepEqual(ds.map((d) => [d.rule.id, d.types]), [
    ['ssn-or-mbi', ['ssn']],
    ['all-ids', ['dob', 'ssn']],
    ['phi', ['condition', 'dob', 'ssn']],
    ['no-findings-condition', []],
    [DEFAULT_RULE_ID, ['condition', 'dob', 'ssn']],
  ]);
  for (const d of ds) t.notRegex(JSON.stringify(d), /\*\*\*/, 'no finding samples in a decision');
});

// mayRefuse decides whether the scan must run before the DATA reply: only when policy could refuse every
// recipient outright is a 550 possible, so only then may the client wait for the scan.
const REFUSING = `rules:
  - id: no-consumer-phi
    description: PHI never goes to consumer mail
    when:
      phi: true
      recipient: { domain: gmail.com }
    then:
      reject: PHI may not go to a consumer mailbox
  - id: partners-deliver
    description: Partners get everything over verified TLS
    when:
      recipient: { domain: lab.example }
    then:
      deliver: verify
  - id: blocked-sender
    description: A sender that may not send at all
    when:
      sender: { address: banned@clinic.example }
    then:
      reject: this sender may not send mail
  - id: big-subject-reject
    description: Refuse by subject, whatever the content
    when:
      subject: { contains: "do not send" }
    then:
      reject: refused by subject
`;

test('mayRefuse: a reject rule that needs the scan counts for the recipients it may match, and only for them', (t) => {
  const { set } = setFrom({ '10-rules.yaml': REFUSING });
  const m = message(scan());
  t.true(mayRefuse(set, m, 'pat@gmail.com'), 'phi + consumer domain: a 550 depends on the scan');
  t.false(mayRefuse(set, m, 'results@lab.example'), 'a deliver rule surely matches first');
  t.false(mayRefuse(set, m, 'someone@other.example'), 'no reject rule can match: the default never refuses');
});

test('mayRefuse: a reject rule that surely matches on envelope or headers alone says yes; one that surely fails says no', (t) => {
  const { set } = setFrom({ '10-rules.yaml': REFUSING });
  t.true(mayRefuse(set, message(scan(), { sender: 'banned@clinic.example' }), 'someone@other.example'));
  t.true(mayRefuse(set, message(scan(), { subject: 'please DO NOT SEND' }), 'someone@other.example'));
  t.false(mayRefuse(set, message(scan(), { subject: 'results' }), 'someone@other.example'));
  // the partner rule comes before the sender rule, so even a banned sender's mail to the lab is not refused
  t.false(mayRefuse(set, message(scan(), { sender: 'banned@clinic.example' }), 'results@lab.example'));
});

test('mayRefuse never reads the scan: a message that is not scanned yet gives the same answer as any scan', (t) => {
  const { set } = setFrom({ '10-rules.yaml': REFUSING });
  const trap = new Proxy(scan(), { get: () => { throw new Error('the scan was read'); } });
  const m = message(trap as ScanFacts);
  for (const r of ['pat@gmail.com', 'results@lab.example', 'x@other.example']) t.is(mayRefuse(set, m, r), mayRefuse(set, message(PHI), r));
  t.false(mayRefuse(EMPTY_POLICY_SET, m, 'pat@gmail.com'), 'no rules: nobody is refused');
});

test('mayRefuse skips every condition that reads the scan (findings, unscanned, scanFailed, attachment, phi)', (t) => {
  const kinds = [
    'findings: { any: [ssn] }', 'unscanned: true', 'scanFailed: true', 'attachment: { name: { endsWith: ".pdf" } }', 'phi: true',
  ];
  const rules = `rules:\n${kinds.map((k, i) => `  - id: r${i}\n    when:\n      ${k}\n      recipient: { domain: r${i}.example }\n    then:\n      reject: no\n`).join('')}`;
  const { set } = setFrom({ '10-scan.yaml': rules });
  const trap = new Proxy(scan(), { get: () => { throw new Error('the scan was read'); } });
  const m = message(trap as ScanFacts);
  kinds.forEach((_, i) => t.true(mayRefuse(set, m, `x@r${i}.example`), `rule r${i} may refuse`));
  t.false(mayRefuse(set, m, 'x@elsewhere.example'));
});
