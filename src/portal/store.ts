// Owns the portal's records in the shared store: the message bytes sealed at rest under `portal:<id>` in
// store.messages, its facts in store.meta `portal:<id>`, and the link index `portal-token:<sha256 of token>` -> id.
// The link token is returned once and never stored. Revoking or expiring a message removes its sealed bytes and
// keeps the facts, marked, so the link can say what happened. Read-modify-writes (code tries, lockout) run in one
// synchronous write transaction, so two requests (or two processes) cannot both spend the same try.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Store } from '../store.js';
import { CODE_DEFAULTS, tryCode, type CodeLimits, type CodeSlice, type StoredCode, type VerifyOutcome } from './codes.js';

const REC = 'portal:';
const TOKEN = 'portal-token:';
const BYTES = 'portal:';

export type PortalState = 'active' | 'revoked' | 'expired';

export interface StoredPassphrase { salt: string; hash: string; N: number; r: number; p: number }

export interface PortalRecord extends CodeSlice {
  id: string;
  sender: string;
  recipient: string;
  queueId: string;
  messageId: string | null;
  created: number;
  expiresAt: number;
  revokedAt: number | null;
  /** when the content was destroyed for reaching expiresAt */
  expiredAt: number | null;
  passphrase: StoredPassphrase | null;
  /** sessions opened (successful verifications) */
  opened: number;
  /** codes sent */
  codesSent: number;
}

export interface NewPortalMessage {
  /** the full MIME message */
  bytes: Buffer;
  sender: string;
  recipient: string;
  queueId: string;
  messageId: string | null;
  expiresAt: number;
  passphrase?: string;
  /** creation time (ms); Date.now() when absent */
  now?: number;
}

const SCRYPT = { N: 16384, r: 8, p: 1 };

function scrypt(pass: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((res, rej) => scryptCb(pass.normalize('NFC'), salt, 32, opts, (e, k) => (e ? rej(e) : res(k))));
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A link token: 32 random bytes, base64url (43 characters). */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export async function createPortalMessage(store: Store, m: NewPortalMessage): Promise<{ id: string; token: string }> {
  const id = randomBytes(10).toString('hex');
  const token = randomBytes(32).toString('base64url');
  let passphrase: StoredPassphrase | null = null;
  if (m.passphrase !== undefined) {
    if (!m.passphrase.length) throw new RangeError('a portal passphrase cannot be empty');
    const salt = randomBytes(16);
    passphrase = { salt: salt.toString('base64'), hash: (await scrypt(m.passphrase, salt, SCRYPT)).toString('base64'), ...SCRYPT };
  }
  const rec: PortalRecord = {
    id, sender: m.sender, recipient: m.recipient, queueId: m.queueId, messageId: m.messageId,
    created: m.now ?? Date.now(), expiresAt: m.expiresAt, revokedAt: null, expiredAt: null,
    code: null, attempts: 0, lockedUntil: null, passphrase, opened: 0, codesSent: 0,
  };
  await store.messages.put(BYTES + id, m.bytes);
  await store.meta.put(REC + id, rec);
  await store.meta.put(TOKEN + tokenHash(token), id);
  await store.durable();
  return { id, token };
}

export function getPortal(store: Store, id: string): PortalRecord | undefined {
  return store.meta.get(REC + id) as PortalRecord | undefined;
}

export function findByToken(store: Store, token: string): PortalRecord | undefined {
  if (!TOKEN_PATTERN.test(token)) return undefined;
  const id = store.meta.get(TOKEN + tokenHash(token));
  return typeof id === 'string' ? getPortal(store, id) : undefined;
}

/** What the link shows: revoked and expired are final; an active record past expiresAt counts as expired. */
export function stateOf(r: PortalRecord, now: number): PortalState {
  if (r.revokedAt !== null) return 'revoked';
  if (r.expiredAt !== null || now >= r.expiresAt) return 'expired';
  return 'active';
}

/** The message bytes while the message is active (undefined once revoked, expired or destroyed). */
export function readPortalContent(store: Store, id: string, now: number): Buffer | undefined {
  const r = getPortal(store, id);
  if (!r || stateOf(r, now) !== 'active') return undefined;
  return store.messages.get(BYTES + id);
}

/** Whether the sealed bytes are still in the store (false after revoke or expiry). */
export function hasPortalContent(store: Store, id: string): boolean {
  return store.messages.getSealed(BYTES + id) !== undefined;
}

function update(store: Store, id: string, fn: (r: PortalRecord) => PortalRecord | null): PortalRecord | undefined {
  return store.env.transactionSync(() => {
    const r = getPortal(store, id);
    if (!r) return undefined;
    const next = fn(r);
    if (next) store.meta.putSync(REC + id, next);
    return next ?? r;
  });
}

function destroy(store: Store, id: string, how: 'revoked' | 'expired', now: number): boolean {
  let changed = false;
  store.env.transactionSync(() => {
    const r = getPortal(store, id);
    if (!r) return;
    if (r.revokedAt === null && r.expiredAt === null) {
      store.meta.putSync(REC + id, { ...r, code: null, [how === 'revoked' ? 'revokedAt' : 'expiredAt']: now });
      changed = true;
    }
    store.messages.remove(BYTES + id);
  });
  return changed;
}

/** Withdraws a message: its content is removed from the store. False when unknown or already revoked/expired. */
export async function revoke(store: Store, id: string, now: number = Date.now()): Promise<boolean> {
  const changed = destroy(store, id, 'revoked', now);
  await store.durable();
  return changed;
}

/** Destroys the content of one message if it has reached its expiry; true when it did so now. */
export async function expireIfDue(store: Store, id: string, now: number): Promise<boolean> {
  const r = getPortal(store, id);
  if (!r || r.revokedAt !== null || r.expiredAt !== null || now < r.expiresAt) return false;
  const changed = destroy(store, id, 'expired', now);
  await store.durable();
  return changed;
}

/** Destroys the content of every message past its expiry; returns their ids (for the caller's audit). */
export async function expire(store: Store, now: number): Promise<string[]> {
  const due: string[] = [];
  for (const { key, value } of store.meta.getRange({ start: REC, end: `${REC}\uffff` })) {
    const r = value as PortalRecord;
    if (r.revokedAt === null && r.expiredAt === null && now >= r.expiresAt) due.push(String(key).slice(REC.length));
  }
  const done = due.filter((id) => destroy(store, id, 'expired', now));
  if (done.length) await store.durable();
  return done;
}

/** Stores a freshly issued code in place of any earlier one. */
export async function storeCode(store: Store, id: string, code: StoredCode): Promise<PortalRecord | undefined> {
  const r = update(store, id, (r) => ({ ...r, code, codesSent: r.codesSent + 1 }));
  await store.durable();
  return r;
}

async function passphraseMatches(p: StoredPassphrase | null, input: string | undefined): Promise<boolean> {
  if (!p) return true;
  const salt = Buffer.from(p.salt, 'base64');
  // the same work when nothing was typed, so the reply time does not tell
  const got = await scrypt(input ?? '', salt, { N: p.N, r: p.r, p: p.p });
  const want = Buffer.from(p.hash, 'base64');
  return input !== undefined && input.length > 0 && got.length === want.length && timingSafeEqual(got, want);
}

/** One try at a code (and passphrase), applied atomically; a success counts as an opening. */
export async function verifyCode(store: Store, id: string, code: string, passphrase: string | undefined, now: number, limits: Pick<CodeLimits, 'maxAttempts' | 'lockMs'> = CODE_DEFAULTS): Promise<VerifyOutcome | undefined> {
  const before = getPortal(store, id);
  if (!before) return undefined;
  const passOk = await passphraseMatches(before.passphrase, passphrase);
  let outcome: VerifyOutcome | undefined;
  update(store, id, (r) => {
    const t = tryCode(r, code, passOk, now, limits);
    outcome = t.outcome;
    return { ...r, ...t.next, opened: r.opened + (t.outcome.ok ? 1 : 0) };
  });
  await store.durable();
  return outcome;
}
