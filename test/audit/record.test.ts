// The audit record's canonical form and hash: key order never matters, every field matters, and the hash a
// record gets when written is the hash verify recomputes after the store's JSON round trip.
import test from 'ava';
import { buildRecord, canonical, GENESIS, hashRecord, type AuditRecord } from '../../src/audit/record.js';

const NOW = new Date('2026-11-29T10:00:00.000Z');

const sample = (): AuditRecord => buildRecord({
  event: 'delivered', queueId: '01JAAAAAAAAAAAAAAAAA', messageId: 'abc@clinic.test', sender: 'dr@clinic.test',
  recipient: 'patient@example.net', recipients: ['patient@example.net'], actor: null,
  details: { host: 'mx.example.net', port: 25, tls: { protocol: 'TLSv1.3', verified: true }, hops: [{ ip: '192.0.2.1' }, { ip: '192.0.2.2' }] },
}, 7, 'a'.repeat(64), NOW);

test('canonical JSON does not depend on key order, at any depth', (t) => {
  const a = { b: 1, a: { y: [1, { q: 1, p: 2 }], x: 's' }, c: null };
  const b = { c: null, a: { x: 's', y: [1, { p: 2, q: 1 }] }, b: 1 };
  t.is(canonical(a), canonical(b));
  t.is(canonical(a), '{"a":{"x":"s","y":[1,{"p":2,"q":1}]},"b":1,"c":null}');
});

test('canonical JSON keeps array order and drops undefined keys', (t) => {
  t.not(canonical({ a: [1, 2] }), canonical({ a: [2, 1] }));
  t.is(canonical({ a: 1, b: undefined }), canonical({ a: 1 }));
  t.is(canonical('x"y'), JSON.stringify('x"y'));
});

test('a record hash is independent of the key order it was built with', (t) => {
  const r = sample();
  const reordered = Object.fromEntries(Object.entries(r).reverse()) as unknown as AuditRecord;
  reordered.details = Object.fromEntries(Object.entries(r.details).reverse());
  t.is(hashRecord(reordered), r.hash);
  t.regex(r.hash, /^[0-9a-f]{64}$/);
});

test('changing any field, or the previous hash, changes the hash', (t) => {
  const r = sample();
  const changes: [string, (x: AuditRecord) => void][] = [
    ['seq', (x) => { x.seq = 8; }],
    ['time', (x) => { x.time = '2026-11-29T10:00:00.001Z'; }],
    ['event', (x) => { x.event = 'bounced'; }],
    ['queueId', (x) => { x.queueId = '01JAAAAAAAAAAAAAAAAB'; }],
    ['messageId', (x) => { x.messageId = 'abd@clinic.test'; }],
    ['sender', (x) => { x.sender = 'dr2@clinic.test'; }],
    ['recipient', (x) => { x.recipient = 'other@example.net'; }],
    ['recipients', (x) => { x.recipients = ['patient@example.net', 'other@example.net']; }],
    ['recipients removed', (x) => { delete x.recipients; }],
    ['actor', (x) => { x.actor = 'root'; }],
    ['details value', (x) => { x.details['port'] = 587; }],
    ['details nested', (x) => { (x.details['tls'] as { verified: boolean }).verified = false; }],
    ['details array order', (x) => { (x.details['hops'] as unknown[]).reverse(); }],
    ['details key added', (x) => { x.details['extra'] = null; }],
    ['prev', (x) => { x.prev = GENESIS; }],
  ];
  const seen = new Set([r.hash]);
  for (const [name, change] of changes) {
    const x = structuredClone(r);
    change(x);
    const h = hashRecord(x);
    t.not(h, r.hash, `changing ${name} changes the hash`);
    t.false(seen.has(h), `${name}: a distinct hash`);
    seen.add(h);
  }
  t.is(hashRecord(structuredClone(r)), r.hash, 'an unchanged copy keeps the hash');
});

test('the hash ignores the stored hash field itself', (t) => {
  const r = sample();
  const forged: AuditRecord = { ...r, hash: 'f'.repeat(64) };
  t.is(hashRecord(forged), r.hash);
});

test('a record survives the store\'s JSON round trip with its hash intact, whatever its details hold', (t) => {
  // The audit database stores records as JSON; verify recomputes the hash from what it reads back. Details
  // that JSON rewrites (a Date becomes a string, a Buffer an object, undefined array items null) must hash the
  // same before and after, or one careless detail breaks the chain forever.
  const r = buildRecord({
    event: 'admin', actor: 'root',
    details: { at: new Date('2026-11-29T10:00:00Z'), digest: Buffer.from('ab'), list: [1, undefined, 'x'], gone: undefined, n: -0, big: 1e21 },
  }, 1, GENESIS, NOW);
  const stored = JSON.parse(JSON.stringify(r)) as AuditRecord;
  t.is(hashRecord(stored), r.hash);
  t.is(stored.hash, r.hash);
});
