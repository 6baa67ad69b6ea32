// Owns the portal's one-time codes and the lockout that bounds guessing them: a code is 6-8 digits drawn with
// crypto.randomInt, stored only as an HMAC under a fresh salt, lives a short while, opens a session once, and is
// compared in constant time. Too many failed tries lock the message for a while. Pure functions over the slice of
// a portal record they need; store.ts applies them inside one write transaction.
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

export interface CodeLimits {
  /** digits in a code, 6 to 8 */
  digits: number;
  lifetimeMs: number;
  /** failed tries (wrong code or passphrase) before the message locks */
  maxAttempts: number;
  lockMs: number;
}

export const CODE_DEFAULTS: CodeLimits = { digits: 6, lifetimeMs: 10 * 60_000, maxAttempts: 3, lockMs: 15 * 60_000 };

/** A code as stored: never the code itself. */
export interface StoredCode {
  salt: string;
  hash: string;
  issuedAt: number;
  expiresAt: number;
  /** 0 until it opened a session; a code is good for one */
  uses: number;
}

/** The part of a portal record that codes read and write. */
export interface CodeSlice {
  code: StoredCode | null;
  attempts: number;
  lockedUntil: number | null;
}

function hashCode(salt: Buffer, code: string): Buffer {
  return createHmac('sha256', salt).update(code, 'utf8').digest();
}

export function newCode(now: number, limits: Pick<CodeLimits, 'digits' | 'lifetimeMs'> = CODE_DEFAULTS): { code: string; stored: StoredCode } {
  const digits = Math.trunc(limits.digits);
  if (!(digits >= 6 && digits <= 8)) throw new RangeError(`a portal code has 6 to 8 digits, not ${limits.digits}`);
  const code = String(randomInt(0, 10 ** digits)).padStart(digits, '0');
  const salt = randomBytes(16);
  return { code, stored: { salt: salt.toString('base64'), hash: hashCode(salt, code).toString('base64'), issuedAt: now, expiresAt: now + limits.lifetimeMs, uses: 0 } };
}

/** Constant-time: the same work whatever the input, and no early exit on the first differing byte. */
export function codeMatches(stored: StoredCode, input: string): boolean {
  const expected = Buffer.from(stored.hash, 'base64');
  const got = hashCode(Buffer.from(stored.salt, 'base64'), input.trim());
  return expected.length === got.length && timingSafeEqual(expected, got);
}

export function isLocked(s: Pick<CodeSlice, 'lockedUntil'>, now: number): boolean {
  return s.lockedUntil !== null && now < s.lockedUntil;
}

export type VerifyOutcome =
  | { ok: true }
  | { ok: false; reason: 'locked'; lockedUntil: number }
  | { ok: false; reason: 'no-code' | 'expired' | 'used' }
  | { ok: false; reason: 'wrong'; attempts: number; locked: boolean; lockedUntil: number | null };

/**
 * One try at a code (and the passphrase when the message has one: `passphraseOk` false counts as a failure and
 * does not say which part was wrong). Returns the outcome and the slice to store. A wrong try counts towards
 * maxAttempts; the last one locks the message for lockMs and voids the current code. A try on an expired or
 * spent code does not count (nothing can be learnt from it) but does not open anything either.
 */
export function tryCode(s: CodeSlice, input: string, passphraseOk: boolean, now: number, limits: Pick<CodeLimits, 'maxAttempts' | 'lockMs'> = CODE_DEFAULTS): { outcome: VerifyOutcome; next: CodeSlice } {
  if (isLocked(s, now)) return { outcome: { ok: false, reason: 'locked', lockedUntil: s.lockedUntil! }, next: s };
  // a lock that has run out starts a fresh count
  const base: CodeSlice = s.lockedUntil !== null ? { ...s, lockedUntil: null, attempts: 0 } : s;
  if (!base.code) return { outcome: { ok: false, reason: 'no-code' }, next: base };
  if (base.code.uses > 0) return { outcome: { ok: false, reason: 'used' }, next: base };
  if (now >= base.code.expiresAt) return { outcome: { ok: false, reason: 'expired' }, next: base };
  const matches = codeMatches(base.code, input);
  if (matches && passphraseOk) {
    return { outcome: { ok: true }, next: { code: { ...base.code, uses: base.code.uses + 1 }, attempts: 0, lockedUntil: null } };
  }
  const attempts = base.attempts + 1;
  if (attempts >= limits.maxAttempts) {
    const lockedUntil = now + limits.lockMs;
    return { outcome: { ok: false, reason: 'wrong', attempts, locked: true, lockedUntil }, next: { code: null, attempts: 0, lockedUntil } };
  }
  return { outcome: { ok: false, reason: 'wrong', attempts, locked: false, lockedUntil: null }, next: { ...base, attempts } };
}
