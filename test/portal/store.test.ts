// Portal records and one-time codes: content sealed at rest and refused when altered, the link token kept only
// as a hash, revoke and expiry destroying the content and keeping the facts, codes that are single use, expire,
// and lock the message after too many failed tries.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { createPortalMessage, findByToken, getPortal, readPortalContent, hasPortalContent, revoke, expire, expireIfDue, storeCode, verifyCode, stateOf, tokenHash } from '../../src/portal/store.js';
import { newCode, codeMatches, tryCode, CODE_DEFAULTS, type CodeSlice } from '../../src/portal/codes.js';
import { tempStore, dirContains, sampleMessage } from './kit.js';

const T0 = Date.UTC(2026, 0, 15, 9, 0, 0);
const DAY = 86_400_000;

async function oneMessage(opts: { passphrase?: string; expiresAt?: number } = {}) {
  const { store, dataDir } = tempStore();
  const marker = `Marker-${randomBytes(6).toString('hex')}`;
  const bytes = sampleMessage(marker);
  const { id, token } = await createPortalMessage(store, {
    bytes, sender: 'dr.smith@clinic.example', recipient: 'pat@example.org', queueId: 'Q0000000000000000001', messageId: '<orig-123@clinic.example>',
    expiresAt: opts.expiresAt ?? T0 + 30 * DAY, now: T0, ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
  });
  return { store, dataDir, marker, bytes, id, token };
}

test('the message is sealed at rest; the token is stored only as its hash; the record opens by token', async (t) => {
  const { store, dataDir, marker, bytes, id, token } = await oneMessage({ passphrase: 'blue heron 42' });
  t.teardown(() => store.close());
  t.regex(id, /^[0-9a-f]{20}$/);
  t.is(Buffer.from(token, 'base64url').length, 32);
  t.deepEqual(readPortalContent(store, id, T0 + 1000), bytes, 'readable with the key');
  await store.durable();
  t.deepEqual(dirContains(dataDir, marker), [], 'no file of the data directory holds the message marker');
  t.deepEqual(dirContains(dataDir, token), [], 'nor the link token');
  t.deepEqual(dirContains(dataDir, 'blue heron 42'), [], 'nor the passphrase');
  t.not(dirContains(dataDir, tokenHash(token)).length, 0, 'the token hash is the index (the grep would see it)');
  const r = findByToken(store, token)!;
  t.is(r.id, id);
  t.is(r.recipient, 'pat@example.org');
  t.is(r.created, T0);
  t.truthy(r.passphrase);
  t.is(findByToken(store, randomBytes(32).toString('base64url')), undefined, 'an unknown token');
  t.is(findByToken(store, 'short'), undefined, 'a malformed token');
  t.is(stateOf(r, T0), 'active');
});

test('tampered sealed bytes are refused', async (t) => {
  const { store, id } = await oneMessage();
  t.teardown(() => store.close());
  const sealed = store.messages.getSealed(`portal:${id}`)!;
  const bad = Buffer.from(sealed);
  bad[bad.length - 5]! ^= 0x20;
  await store.messages.putSealed(`portal:${id}`, bad);
  t.throws(() => readPortalContent(store, id, T0), { message: /does not authenticate/ });
});

test('revoke destroys the content and keeps the record marked revoked', async (t) => {
  const { store, dataDir, id, token } = await oneMessage();
  t.teardown(() => store.close());
  t.true(hasPortalContent(store, id));
  t.true(await revoke(store, id, T0 + 5000));
  t.false(hasPortalContent(store, id), 'sealed bytes removed');
  t.is(readPortalContent(store, id, T0 + 6000), undefined);
  const r = findByToken(store, token)!;
  t.is(r.revokedAt, T0 + 5000);
  t.is(stateOf(r, T0 + 6000), 'revoked');
  t.false(await revoke(store, id, T0 + 7000), 'a second revoke changes nothing');
  t.is(getPortal(store, id)!.revokedAt, T0 + 5000);
  t.false(await revoke(store, 'nope', T0), 'unknown id');
  t.true(dirContains(dataDir, id).length > 0, 'the record is still there');
});

test('expire destroys exactly the messages past their expiry', async (t) => {
  const { store } = tempStore();
  t.teardown(() => store.close());
  const mk = (expiresAt: number) => createPortalMessage(store, { bytes: Buffer.from('x'), sender: 's@a.example', recipient: 'r@b.example', queueId: 'Q', messageId: null, expiresAt, now: T0 });
  const soon = await mk(T0 + DAY);
  const later = await mk(T0 + 10 * DAY);
  const revoked = await mk(T0 + DAY);
  await revoke(store, revoked.id, T0 + 1);
  t.deepEqual(await expire(store, T0 + DAY - 1), [], 'nothing due yet');
  t.true(hasPortalContent(store, soon.id));
  t.deepEqual(await expire(store, T0 + 2 * DAY), [soon.id]);
  t.false(hasPortalContent(store, soon.id));
  t.true(hasPortalContent(store, later.id));
  t.is(getPortal(store, soon.id)!.expiredAt, T0 + 2 * DAY);
  t.is(getPortal(store, revoked.id)!.expiredAt, null, 'a revoked message stays revoked');
  t.deepEqual(await expire(store, T0 + 3 * DAY), [], 'done once');
  t.false(await expireIfDue(store, later.id, T0 + 9 * DAY));
  t.is(stateOf(getPortal(store, later.id)!, T0 + 10 * DAY), 'expired', 'past expiry reads as expired before the sweep');
  t.true(await expireIfDue(store, later.id, T0 + 10 * DAY));
  t.false(hasPortalContent(store, later.id));
});

test('codes: 6 to 8 digits, uniform-looking, hashed, matched exactly', (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const { code, stored } = newCode(T0);
    t.regex(code, /^\d{6}$/);
    seen.add(code);
    t.false(JSON.stringify(stored).includes(code));
    t.is(stored.expiresAt, T0 + CODE_DEFAULTS.lifetimeMs);
  }
  t.true(seen.size > 190, 'codes are not repeated');
  t.regex(newCode(T0, { digits: 8, lifetimeMs: 1 }).code, /^\d{8}$/);
  t.throws(() => newCode(T0, { digits: 5, lifetimeMs: 1 }));
  t.throws(() => newCode(T0, { digits: 9, lifetimeMs: 1 }));
  const { code, stored } = newCode(T0);
  t.true(codeMatches(stored, code));
  t.true(codeMatches(stored, ` ${code} `), 'spaces around are forgiven');
  const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
  t.false(codeMatches(stored, wrong));
  t.false(codeMatches(stored, code.slice(1)));
  t.false(codeMatches(stored, ''));
});

test('tryCode: three wrong tries lock; the lock refuses even the right code; a lock that ran out starts afresh', (t) => {
  const limits = { maxAttempts: 3, lockMs: 15 * 60_000 };
  const { code, stored } = newCode(T0);
  let s: CodeSlice = { code: stored, attempts: 0, lockedUntil: null };
  let r = tryCode(s, '000000x', true, T0 + 1, limits);
  t.like(r.outcome, { ok: false, reason: 'wrong', attempts: 1, locked: false });
  s = r.next;
  r = tryCode(s, '000000x', true, T0 + 2, limits);
  t.like(r.outcome, { ok: false, reason: 'wrong', attempts: 2, locked: false });
  s = r.next;
  r = tryCode(s, '000000x', true, T0 + 3, limits);
  t.like(r.outcome, { ok: false, reason: 'wrong', attempts: 3, locked: true, lockedUntil: T0 + 3 + limits.lockMs });
  s = r.next;
  t.is(s.code, null, 'the code is void after the lock');
  t.like(tryCode(s, code, true, T0 + 4, limits).outcome, { ok: false, reason: 'locked' });
  t.like(tryCode({ ...s, code: stored }, code, true, T0 + 4, limits).outcome, { ok: false, reason: 'locked' }, 'even with a code in place');
  const fresh = newCode(T0 + limits.lockMs + 10);
  const after = tryCode({ ...s, code: fresh.stored }, fresh.code, true, T0 + limits.lockMs + 20, limits);
  t.like(after.outcome, { ok: true });
  t.is(after.next.lockedUntil, null);
  t.is(after.next.attempts, 0);
});

test('tryCode: a code is single use, expires, and needs the passphrase when there is one', (t) => {
  const { code, stored } = newCode(T0, { digits: 6, lifetimeMs: 60_000 });
  const s: CodeSlice = { code: stored, attempts: 0, lockedUntil: null };
  const ok = tryCode(s, code, true, T0 + 1000);
  t.like(ok.outcome, { ok: true });
  t.like(tryCode(ok.next, code, true, T0 + 2000).outcome, { ok: false, reason: 'used' });
  t.like(tryCode(s, code, true, T0 + 60_000).outcome, { ok: false, reason: 'expired' });
  t.like(tryCode(s, code, true, T0 + 59_999).outcome, { ok: true });
  t.like(tryCode({ code: null, attempts: 0, lockedUntil: null }, code, true, T0).outcome, { ok: false, reason: 'no-code' });
  const noPass = tryCode(s, code, false, T0 + 1000);
  t.like(noPass.outcome, { ok: false, reason: 'wrong', attempts: 1 }, 'right code, wrong passphrase: a failed try');
  t.is(noPass.next.code?.uses, 0, 'the code is not spent by it');
});

test('verifyCode in the store: passphrase checked with scrypt, tries counted atomically, opened counted', async (t) => {
  const { store, id } = await oneMessage({ passphrase: 'blue heron 42' });
  t.teardown(() => store.close());
  const c1 = newCode(T0);
  await storeCode(store, id, c1.stored);
  t.is(getPortal(store, id)!.codesSent, 1);
  t.like(await verifyCode(store, id, c1.code, 'wrong pass', T0 + 10), { ok: false, reason: 'wrong', attempts: 1 });
  t.like(await verifyCode(store, id, c1.code, undefined, T0 + 20), { ok: false, reason: 'wrong', attempts: 2 });
  t.like(await verifyCode(store, id, c1.code, 'blue heron 42', T0 + 30), { ok: true });
  const r = getPortal(store, id)!;
  t.is(r.opened, 1);
  t.is(r.attempts, 0);
  t.like(await verifyCode(store, id, c1.code, 'blue heron 42', T0 + 40), { ok: false, reason: 'used' });
  // concurrent wrong tries are each counted
  const c2 = newCode(T0 + 50);
  await storeCode(store, id, c2.stored);
  const outs = await Promise.all([1, 2, 3].map(() => verifyCode(store, id, 'nope', 'blue heron 42', T0 + 60)));
  t.deepEqual(outs.map((o) => (o as { attempts: number }).attempts).sort(), [1, 2, 3]);
  t.true(getPortal(store, id)!.lockedUntil! > T0 + 60);
  t.is(await verifyCode(store, 'unknown', '1', undefined, T0), undefined);
});
