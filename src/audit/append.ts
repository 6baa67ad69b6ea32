// Owns appending to the audit trail: records keyed by a monotonic sequence, chained by hash, with secondary
// index entries (message id, queue id, sender, recipient, event, time) written in the same transaction.
import type { Store } from '../store.js';
import { buildRecord, GENESIS, type AuditInput, type AuditRecord } from './record.js';

const HEAD_KEY = 'audit-head';

interface Head { seq: number; hash: string }

export const INDEX = { messageId: 'm', queueId: 'q', sender: 's', recipient: 'r', event: 'e', time: 't' } as const;

/** The secondary index keys of a record; verify checks that each one exists. */
export function indexKeys(rec: AuditRecord): (string | number)[][] {
  const keys: (string | number)[][] = [[INDEX.event, rec.event, rec.seq], [INDEX.time, Date.parse(rec.time), rec.seq]];
  if (rec.messageId) keys.push([INDEX.messageId, rec.messageId, rec.seq]);
  if (rec.queueId) keys.push([INDEX.queueId, rec.queueId, rec.seq]);
  if (rec.sender !== null) keys.push([INDEX.sender, rec.sender.toLowerCase(), rec.seq]);
  const rcpts = new Set<string>([...(rec.recipient ? [rec.recipient] : []), ...(rec.recipients ?? [])].map((r) => r.toLowerCase()));
  for (const r of rcpts) keys.push([INDEX.recipient, r, rec.seq]);
  return keys;
}

/**
 * Appends inside the caller's write transaction (call from within store.env.transaction / transactionSync).
 * Never throws after its first put, so a transaction is never half-written by it.
 */
export function appendInTxn(store: Store, input: AuditInput, now: Date = new Date()): AuditRecord {
  const head = (store.meta.get(HEAD_KEY) as Head | undefined) ?? { seq: 0, hash: GENESIS };
  const rec = buildRecord(input, head.seq + 1, head.hash, now);
  store.audit.put(rec.seq, rec);
  for (const k of indexKeys(rec)) store.auditIndex.put(k, 1);
  store.meta.put(HEAD_KEY, { seq: rec.seq, hash: rec.hash } satisfies Head);
  return rec;
}

/** Appends events in one durable transaction of their own (for events with no spool write beside them). */
export async function appendDurable(store: Store, inputs: AuditInput[]): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  await store.env.transaction(() => {
    for (const i of inputs) out.push(appendInTxn(store, i));
  });
  await store.durable();
  return out;
}

export function auditHead(store: Store): Head {
  return (store.meta.get(HEAD_KEY) as Head | undefined) ?? { seq: 0, hash: GENESIS };
}
