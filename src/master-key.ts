// Owns the master key file (outside the data directory): created with 32 random bytes and mode 0600 on first
// start when missing, read as a keyring (first line the current key, later lines retired keys that may still
// wrap data keys until a rotation has re-wrapped them), and re-read when the file changes, so a rotation by
// the CLI reaches a running gateway without a restart. PHIGATE_MASTER_KEY (base64) replaces the file.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { PhigateError } from './errors.js';
import { keyringOf, masterKeyFrom, type Keyring, type MasterKey } from './seal.js';

export const MASTER_KEY_ENV = 'PHIGATE_MASTER_KEY';

function parse(text: string, where: string): MasterKey[] {
  const keys = text.split(/\r?\n/).map((l) => l.replace(/#.*/, '').trim()).filter(Boolean).map((l, i) => {
    const b = Buffer.from(l, 'base64');
    if (b.length !== 32 || b.toString('base64') !== l) throw new PhigateError('MASTER_KEY', `${where}: line ${i + 1} is not a base64 32-byte key`);
    return masterKeyFrom(b);
  });
  if (!keys.length) throw new PhigateError('MASTER_KEY', `${where}: no key in the file`);
  return keys;
}

/** Creates the key file when there is none (and no env key); says whether it did. */
export function ensureMasterKey(file: string): { created: boolean } {
  if (process.env[MASTER_KEY_ENV] || existsSync(file)) return { created: false };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `# phigate master key: keep it, back it up apart from the data directory; without it the spool cannot be read\n${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { created: true };
}

export function readKeyring(file: string): Keyring {
  const env = process.env[MASTER_KEY_ENV];
  if (env) {
    const [current, ...older] = parse(env.replace(/[,\s]+/g, '\n'), MASTER_KEY_ENV);
    return keyringOf(current!, older);
  }
  let text: string;
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0) chmodSync(file, 0o600);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PhigateError('MASTER_KEY', `${file}: cannot read the master key: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const [current, ...older] = parse(text, file);
  return keyringOf(current!, older);
}

/** The keyring, re-read when the file changes (checked at most once a second, or at once with `force`). */
export function keyringCache(file: string): (force?: boolean) => Keyring {
  let ring = readKeyring(file);
  let stamp = '';
  let checked = 0;
  const stampOf = () => { try { const s = statSync(file); return `${s.ino}:${s.mtimeMs}:${s.size}`; } catch { return 'missing'; } };
  stamp = stampOf();
  return (force = false) => {
    const now = Date.now();
    if (process.env[MASTER_KEY_ENV] || (!force && now - checked < 1000)) return ring;
    checked = now;
    const s = stampOf();
    if (s !== stamp) { ring = readKeyring(file); stamp = s; }
    return ring;
  };
}

/** Writes a keyring file atomically (new current key first, then the retired ones). */
export function writeKeyring(file: string, keys: Buffer[]): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `# phigate master keys: the first line seals new data; later lines are retired keys still needed to read older data\n${keys.map((k) => k.toString('base64')).join('\n')}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}
