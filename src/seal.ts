// Owns encryption at rest: every stored message (spool, copies, portal) is sealed with a fresh AES-256-GCM data
// key, and that key is wrapped by a master key kept outside the data directory (a 0600 key file, or the
// PHIGATE_MASTER_KEY environment variable). Losing the data directory alone reveals nothing; a tampered record
// fails its authentication tag and is refused. A keyring holds the current master key and older ones until a
// rotation has re-wrapped every data key.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { PhigateError } from './errors.js';

const MAGIC = Buffer.from('PGS1');
/** The first bytes of every sealed value. */
export const SEAL_MAGIC: Buffer = Buffer.from(MAGIC);
const KEY_ID_LEN = 8;
const IV = 12;
const TAG = 16;
const WRAPPED = IV + TAG + 32;
/** magic | master key id | wrapped data key (iv, tag, key) | iv | tag | ciphertext */
const HEADER = MAGIC.length + KEY_ID_LEN + WRAPPED + IV + TAG;

export interface MasterKey { id: Buffer; key: Buffer }

export interface Keyring {
  current: MasterKey;
  /** every key that may still have wrapped data keys, current included */
  byId(id: Buffer): MasterKey | undefined;
  all: MasterKey[];
}

export function masterKeyFrom(secret: Buffer): MasterKey {
  if (secret.length !== 32) throw new PhigateError('MASTER_KEY', `a master key is 32 bytes, this one is ${secret.length}`);
  return { id: createHash('sha256').update(secret).digest().subarray(0, KEY_ID_LEN), key: secret };
}

export function keyringOf(current: MasterKey, older: MasterKey[] = []): Keyring {
  const all = [current, ...older];
  return { current, all, byId: (id) => all.find((k) => k.id.equals(id)) };
}

/** Random bytes for keys and IVs, drawn from the CSPRNG 4 KiB at a time (one call per 73 seals, not three each). */
let pool = Buffer.alloc(0);
let poolAt = 0;
function random(n: number): Buffer {
  if (poolAt + n > pool.length) { pool = randomBytes(4096); poolAt = 0; }
  const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
  pool.fill(0, poolAt, poolAt + n); // what was handed out does not stay behind in the pool
  poolAt += n;
  return out;
}

// GCM's final() adds no bytes: the update output is the whole text, used as is (no copy of a large message).
function gcm(key: Buffer, iv: Buffer, data: Buffer): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ct = c.update(data);
  c.final();
  return { ct, tag: c.getAuthTag() };
}

function ungcm(key: Buffer, iv: Buffer, tag: Buffer, ct: Buffer, what: string): Buffer {
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAuthTag(tag);
    const plain = d.update(ct);
    d.final(); // throws when the tag does not authenticate
    return plain;
  } catch {
    throw new PhigateError('SEALED_TAMPERED', `${what} does not authenticate: it was altered or sealed with another key`);
  }
}

function wrap(master: MasterKey, dataKey: Buffer): Buffer {
  const iv = random(IV);
  const { ct, tag } = gcm(master.key, iv, dataKey);
  return Buffer.concat([iv, tag, ct]);
}

export function isSealed(b: Buffer): boolean {
  return b.length >= HEADER && b.subarray(0, MAGIC.length).equals(MAGIC);
}

export function seal(plain: Buffer, ring: Keyring): Buffer {
  const dataKey = random(32);
  const iv = random(IV);
  const { ct, tag } = gcm(dataKey, iv, plain);
  return Buffer.concat([MAGIC, ring.current.id, wrap(ring.current, dataKey), iv, tag, ct]);
}

function parts(sealed: Buffer) {
  let o = MAGIC.length;
  const id = sealed.subarray(o, (o += KEY_ID_LEN));
  const wrapped = sealed.subarray(o, (o += WRAPPED));
  const iv = sealed.subarray(o, (o += IV));
  const tag = sealed.subarray(o, (o += TAG));
  return { id, wrapped, iv, tag, ct: sealed.subarray(o) };
}

function dataKeyOf(sealed: Buffer, ring: Keyring): Buffer {
  const p = parts(sealed);
  const master = ring.byId(p.id);
  if (!master) throw new PhigateError('MASTER_KEY', `a stored message is sealed with master key ${p.id.toString('hex')}, which is not in the keyring`);
  return ungcm(master.key, p.wrapped.subarray(0, IV), p.wrapped.subarray(IV, IV + TAG), p.wrapped.subarray(IV + TAG), 'a stored data key');
}

export function unseal(sealed: Buffer, ring: Keyring): Buffer {
  if (!isSealed(sealed)) throw new PhigateError('SEALED_TAMPERED', 'a stored message is not sealed (written without encryption at rest, or altered)');
  const p = parts(sealed);
  return ungcm(dataKeyOf(sealed, ring), p.iv, p.tag, p.ct, 'a stored message');
}

/** The same sealed record with its data key wrapped by the ring's current master key (the content is untouched). */
export function rewrap(sealed: Buffer, ring: Keyring): Buffer {
  const p = parts(sealed);
  if (p.id.equals(ring.current.id)) return sealed;
  const dataKey = dataKeyOf(sealed, ring);
  return Buffer.concat([MAGIC, ring.current.id, wrap(ring.current, dataKey), p.iv, p.tag, p.ct]);
}

export function sealedKeyId(sealed: Buffer): string {
  return parts(sealed).id.toString('hex');
}
