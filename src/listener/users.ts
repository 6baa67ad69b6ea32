// Owns the users file (config/users.yaml): names and scrypt password hashes, read for AUTH and written
// atomically by `phigate user add/remove`. Plain passwords are never stored or logged.
import { readFileSync, existsSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { scrypt as scryptCb, randomBytes, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { PhigateError } from '../errors.js';

const scrypt = (pw: string, salt: Buffer, len: number, opts: ScryptOptions) =>
  new Promise<Buffer>((res, rej) => scryptCb(pw, salt, len, opts, (e, k) => (e ? rej(e) : res(k))));

export interface UserRecord { hash: string; created: string }
export type Users = Map<string, UserRecord>;

const NAME = /^[A-Za-z0-9._@+-]{1,128}$/;
const N = 16384, R = 8, P = 1, KEYLEN = 32;

export function validateUserName(name: string): void {
  if (!NAME.test(name)) throw new PhigateError('USAGE', `user name "${name}" is invalid: use 1-128 letters, digits or . _ @ + -`);
}

export async function hashPassword(password: string): Promise<string> {
  if (password.length < 12) throw new PhigateError('PASSWORD_INVALID', 'password must be at least 12 characters');
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

// A valid hash used when the user does not exist, so a wrong user name costs the same time as a wrong password.
const DUMMY = `scrypt$${N}$${R}$${P}$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(KEYLEN).toString('base64')}`;

export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parts = (stored ?? DUMMY).split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string];
  const want = Buffer.from(key, 'base64');
  const got = await scrypt(password, Buffer.from(salt, 'base64'), want.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 });
  return stored !== undefined && got.length === want.length && timingSafeEqual(got, want);
}

export function loadUsers(file: string): Users {
  const users: Users = new Map();
  if (!existsSync(file)) return users;
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PhigateError('USERS_INVALID', `${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const list = (doc as { users?: Record<string, UserRecord> } | null)?.users ?? {};
  if (typeof list !== 'object') throw new PhigateError('USERS_INVALID', `${file}: "users" must be a mapping of names to hashes`);
  for (const [name, rec] of Object.entries(list)) {
    if (!rec || typeof rec.hash !== 'string' || !rec.hash.startsWith('scrypt$')) {
      throw new PhigateError('USERS_INVALID', `${file}: user "${name}" has no scrypt hash`);
    }
    users.set(name, { hash: rec.hash, created: String(rec.created ?? '') });
  }
  return users;
}

export function saveUsers(file: string, users: Users): void {
  mkdirSync(dirname(file), { recursive: true });
  const body = { users: Object.fromEntries([...users].sort(([a], [b]) => a.localeCompare(b))) };
  const text = `# phigate users: written by \`phigate user add/remove\`. Password hashes only (scrypt).\n${stringify(body)}`;
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}
