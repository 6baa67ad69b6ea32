// Owns the LMDB environment in dataDir and its named databases. Spool, queue and audit live in one
// environment so one transaction can hold a message, its queue entry and its audit events. Message bytes are
// sealed at rest (src/seal.ts): `messages` seals on put and unseals on get, with the keyring it is given.
import { open, type RootDatabase, type Database } from 'lmdb';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PhigateError } from './errors.js';
import { seal, unseal, type Keyring } from './seal.js';

/** Message bytes by key, sealed at rest; get returns the plain bytes (a fresh copy). */
export interface SealedBytes {
  get(key: string): Buffer | undefined;
  put(key: string, value: Buffer): Promise<boolean>;
  remove(key: string): Promise<boolean>;
  getKeys(range: { start?: string; end?: string }): Iterable<string>;
  /** the stored (sealed) bytes, for key rotation */
  getSealed(key: string): Buffer | undefined;
  putSealed(key: string, sealed: Buffer): Promise<boolean>;
  /** seals bytes with the current key (for a copy kept outside LMDB: the acceptance journal) */
  seal(plain: Buffer): Buffer;
  unseal(sealed: Buffer): Buffer;
}

export interface Store {
  env: RootDatabase;
  /** queueId (and out:queueId#copy) -> message bytes, sealed at rest */
  messages: SealedBytes;
  /** queueId -> QueueEntry */
  queue: Database<unknown, string>;
  /** seq -> AuditRecord */
  audit: Database<unknown, number>;
  /** [index, value, seq] -> null */
  auditIndex: Database<number, (string | number)[]>;
  /** small keyed facts: the audit head */
  meta: Database<unknown, string>;
  close(): Promise<void>;
  /** Resolves when everything committed so far is synced to disk. */
  durable(): Promise<void>;
}

function sealedView(db: Database<Buffer, string>, keyring: ((force?: boolean) => Keyring) | undefined): SealedBytes {
  const ring = (force = false) => {
    if (!keyring) throw new PhigateError('MASTER_KEY', 'message bytes are sealed at rest; this command was not given the master key');
    return keyring(force);
  };
  const open = (v: Buffer) => {
    try {
      return unseal(v, ring());
    } catch (e) {
      // a record re-wrapped by a rotation that this process has not seen yet: read the key file again
      if ((e as PhigateError).code !== 'MASTER_KEY') throw e;
      return unseal(v, ring(true));
    }
  };
  return {
    get: (k) => { const v = db.get(k); return v === undefined ? undefined : open(v); },
    put: (k, v) => db.put(k, seal(v, ring())),
    remove: (k) => db.remove(k),
    getKeys: (r) => db.getKeys(r) as Iterable<string>,
    getSealed: (k) => db.get(k) ?? undefined,
    putSealed: (k, v) => db.put(k, v),
    seal: (v) => seal(v, ring()),
    unseal: open,
  };
}

export function openStore(dataDir: string, opts: { readOnly?: boolean; keyring?: (force?: boolean) => Keyring } = {}): Store {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const env = open({ path: join(dataDir, 'phigate.lmdb'), maxDbs: 16, mapSize: 2 ** 34, readOnly: opts.readOnly ?? false });
    const messages = sealedView(env.openDB<Buffer, string>({ name: 'messages', encoding: 'binary' }), opts.keyring);
    const queue = env.openDB<unknown, string>({ name: 'queue', encoding: 'msgpack' });
    const audit = env.openDB<unknown, number>({ name: 'audit', encoding: 'json' });
    const auditIndex = env.openDB<number, (string | number)[]>({ name: 'audit-index' });
    const meta = env.openDB<unknown, string>({ name: 'meta', encoding: 'json' });
    return {
      env, messages, queue, audit, auditIndex, meta,
      close: () => env.close(),
      durable: () => env.flushed.then(() => undefined),
    };
  } catch (e) {
    throw new PhigateError('STORE_OPEN', `cannot open the data store in ${dataDir}: ${(e as Error).message}`, { cause: e });
  }
}
