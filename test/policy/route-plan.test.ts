// planFor, one recipient's next step from its route: reject bounces with 550 5.7.1, quarantine holds, deliver
// sends at the stronger of the rule's and the destination's TLS level (never lower), encrypt walks its methods
// with an injected availability (only verified TLS can send today), and holds when no method is left.
import test from 'ava';
import type { EncryptMethod, Route, TlsLevel } from '../../src/envelope.js';
import { isTlsRequirementFailure, NO_METHODS_BUT_TLS, planFor, type MethodAvailability } from '../../src/policy/route-plan.js';

const ALL: MethodAvailability = () => null;
/** Availability that refuses the named methods with a reason, and records what it was asked. */
function only(refused: Partial<Record<EncryptMethod, string>>, asked: string[] = []): MethodAvailability {
  return (m, rcpt) => { asked.push(`${m}:${rcpt}`); return refused[m] ?? null; };
}

test('no route: send at the destination\'s level, plain', (t) => {
  t.deepEqual(planFor(undefined, 'p@example.org', 'encrypt', 0, ALL), { kind: 'send', level: 'encrypt', via: 'plain' });
});

test('reject bounces with 550 5.7.1 naming the rule and its reason', (t) => {
  const route: Route = { rule: 'no-ssn', action: 'reject', reason: 'SSNs may not go to personal mailboxes' };
  const p = planFor(route, 'p@gmail.com', 'verify', 0, ALL);
  t.deepEqual(p, { kind: 'bounce', reply: '550 5.7.1 Refused by policy (rule no-ssn): SSNs may not go to personal mailboxes', reason: 'policy-rejected' });
  t.deepEqual(planFor({ rule: 'r', action: 'reject' }, 'p@x.example', 'none', 0, ALL), { kind: 'bounce', reply: '550 5.7.1 Refused by policy (rule r): not allowed', reason: 'policy-rejected' });
});

test('quarantine holds with the rule and its reason', (t) => {
  const p = planFor({ rule: 'sheets', action: 'quarantine', reason: 'a spreadsheet needs approval' }, 'p@example.org', 'may', 0, ALL);
  t.deepEqual(p, { kind: 'hold', reason: 'held for review by rule sheets: a spreadsheet needs approval' });
});

test('deliver sends at the stronger of the rule\'s level and the destination\'s floor, never lower', (t) => {
  const levels: TlsLevel[] = ['none', 'may', 'encrypt', 'verify'];
  const expected: Record<string, TlsLevel> = {
    'none/none': 'none', 'none/may': 'may', 'none/encrypt': 'encrypt', 'none/verify': 'verify',
    'may/none': 'may', 'may/may': 'may', 'may/encrypt': 'encrypt', 'may/verify': 'verify',
    'encrypt/none': 'encrypt', 'encrypt/may': 'encrypt', 'encrypt/encrypt': 'encrypt', 'encrypt/verify': 'verify',
    'verify/none': 'verify', 'verify/may': 'verify', 'verify/encrypt': 'verify', 'verify/verify': 'verify',
  };
  for (const rule of levels) {
    for (const floor of levels) {
      const p = planFor({ rule: 'r', action: 'deliver', tls: rule }, 'p@example.org', floor, 0, ALL);
      t.deepEqual(p, { kind: 'send', level: expected[`${rule}/${floor}`]!, via: 'plain' }, `rule ${rule}, floor ${floor}`);
    }
  }
  // a deliver rule without a level takes the floor; the rule's edits go with the plan
  t.deepEqual(planFor({ rule: 'r', action: 'deliver' }, 'p@example.org', 'encrypt', 0, ALL), { kind: 'send', level: 'encrypt', via: 'plain' });
  const changes = { subjectPrefix: '[EXTERNAL]', headers: [['X-A', '1']] as [string, string][] };
  t.deepEqual(planFor({ rule: 'r', action: 'deliver', tls: 'may', changes }, 'p@example.org', 'none', 0, ALL), { kind: 'send', level: 'may', changes, via: 'plain' });
});

test('encrypt: verified TLS first, whatever the floor, with the rule\'s edits and the method index', (t) => {
  const changes = { strip: ['[secure]'] };
  const route: Route = { rule: 'phi', action: 'encrypt', methods: ['tls', 'pgp', 'smime', 'portal'], changes };
  for (const floor of ['none', 'may', 'verify'] as TlsLevel[]) {
    t.deepEqual(planFor(route, 'p@example.org', floor, 0, ALL), { kind: 'send', level: 'verify', changes, method: 0, via: 'tls' });
  }
  const asked: string[] = [];
  planFor(route, 'p@example.org', 'none', 0, only({}, asked));
  t.deepEqual(asked, ['tls:p@example.org'], 'later methods are not asked about once one serves');
});

test('encrypt walks on: a method that cannot serve the recipient is skipped with its reason', (t) => {
  const route: Route = { rule: 'phi', action: 'encrypt', methods: ['pgp', 'tls'] };
  const asked: string[] = [];
  const p = planFor(route, 'p@example.org', 'none', 0, only({ pgp: 'no OpenPGP key for the recipient' }, asked));
  t.deepEqual(p, { kind: 'send', level: 'verify', method: 1, via: 'tls' });
  t.deepEqual(asked, ['pgp:p@example.org', 'tls:p@example.org']);
});

test('encrypt: pgp, smime and the portal, when available, send at the destination\'s own TLS level', (t) => {
  t.deepEqual(planFor({ rule: 'phi', action: 'encrypt', methods: ['pgp', 'tls'] }, 'p@example.org', 'may', 0, ALL),
    { kind: 'send', level: 'may', method: 0, via: 'pgp' });
  t.deepEqual(planFor({ rule: 'phi', action: 'encrypt', methods: ['smime', 'tls'] }, 'p@example.org', 'verify', 0, ALL),
    { kind: 'send', level: 'verify', method: 0, via: 'smime' });
  t.deepEqual(planFor({ rule: 'phi', action: 'encrypt', methods: ['portal'] }, 'p@example.org', 'none', 0, ALL),
    { kind: 'send', level: 'none', method: 0, via: 'portal' });
});

test('encrypt holds when no method is left, with every reason (earlier notes first), starting at `from`', (t) => {
  const route: Route = { rule: 'phi', action: 'encrypt', methods: ['tls', 'pgp', 'smime', 'portal'] };
  // the gateway today: TLS failed at the last attempt, so the walk starts at pgp
  const p = planFor(route, 'p@example.org', 'may', 1, NO_METHODS_BUT_TLS, ['p@example.org\'s server offers no verified TLS']);
  t.deepEqual(p, {
    kind: 'hold',
    reason: 'no protected way to send (rule phi): p@example.org\'s server offers no verified TLS; no OpenPGP key for the recipient; no S/MIME certificate for the recipient; the secure portal is not available on this gateway yet',
    method: 4,
  });
  // with NO_METHODS_BUT_TLS, tls from the start still sends
  t.deepEqual(planFor(route, 'p@example.org', 'may', 0, NO_METHODS_BUT_TLS), { kind: 'send', level: 'verify', method: 0, via: 'tls' });
  // tls refused for this recipient: every reason, in method order
  t.deepEqual(planFor({ rule: 'x', action: 'encrypt', methods: ['tls', 'portal'] }, 'p@example.org', 'none', 0, only({ tls: 'verified TLS failed', portal: 'no portal' })),
    { kind: 'hold', reason: 'no protected way to send (rule x): verified TLS failed; no portal', method: 2 });
  // past the end of the list, or no list at all
  t.deepEqual(planFor(route, 'p@example.org', 'may', 4, ALL), { kind: 'hold', reason: 'no protected way to send (rule phi): no methods listed', method: 4 });
  t.deepEqual(planFor({ rule: 'e', action: 'encrypt' }, 'p@example.org', 'may', 0, ALL), { kind: 'hold', reason: 'no protected way to send (rule e): no methods listed', method: 0 });
});

test('only TLS requirement failures move an encrypt route to its next method', (t) => {
  t.true(isTlsRequirementFailure('tls-unavailable'));
  t.true(isTlsRequirementFailure('tls-verify-failed'));
  for (const r of ['deferred', 'bounced', 'connection-refused', '']) t.false(isTlsRequirementFailure(r), r);
});
