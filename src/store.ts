// Owns the LMDB environment in dataDir and its named databases. Spool, queue and audit live in one
// environment so one transaction can hold a message, its queue entry and its audit events.
import { open, type RootDatabase, type Database } from 'lmdb';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PhigateError } from './errors.js';

export interface Store {
  env: RootDatabase;
  /** queueId -> message bytes */
  messages: Database<Buffer, string>;
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

export function openStore(dataDir: string, opts: { readOnly?: boolean } = {}): Store {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const env = open({ path: join(dataDir, 'phigate.lmdb'), maxDbs: 16, mapSize: 2 ** 34, readOnly: opts.readOnly ?? false });
    const messages = env.openDB<Buffer, string>({ name: 'messages', encoding: 'binary' });
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
