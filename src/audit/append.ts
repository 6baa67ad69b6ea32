// Owns appending to the audit trail: records keyed by a monotonic sequence, chained by hash, with secondary
// index entries (message id, queue id, sender, recipient, event, time). The record and the head are written in
// the caller's transaction; the index entries too, unless the caller defers them (an acceptance, whose synced
// commit the client waits for): a deferred record is indexed by the next append that does not defer, or by
// indexAuditTail. `audit-indexed` says through which record every index entry is written; queries read the
// records after it directly, so a deferred record is never missing from an answer.
import type { Store } from '../store.js';
import { buildRecord, GENESIS, type AuditInput, type AuditRecord } from './record.js';

const HEAD_KEY = 'audit-head';
const INDEXED_KEY = 'audit-indexed';

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
export function appendInTxn(store: Store, input: AuditInput, now: Date = new Date(), o: { deferIndex?: boolean } = {}): AuditRecord {
  const head = (store.meta.get(HEAD_KEY) as Head | undefined) ?? { seq: 0, hash: GENESIS };
  const rec = buildRecord(input, head.seq + 1, head.hash, now);
  // no watermark yet: no append was ever deferred, so every record before this one is indexed
  const watermarked = store.meta.get(INDEXED_KEY) !== undefined;
  store.audit.put(rec.seq, rec);
  store.meta.put(HEAD_KEY, { seq: rec.seq, hash: rec.hash } satisfies Head);
  if (o.deferIndex) {
    if (!watermarked) store.meta.put(INDEXED_KEY, head.seq);
  } else if (watermarked) {
    indexAuditTail(store); // the deferred records before this one, and this one
  } else {
    for (const k of indexKeys(rec)) store.auditIndex.put(k, 1);
  }
  return rec;
}

/** Through which record every index entry is written (all of them when no append was ever deferred). */
export function indexedThrough(store: Store, headSeq: number = auditHead(store).seq): number {
  const w = store.meta.get(INDEXED_KEY) as unknown;
  if (w === undefined) return headSeq;
  // not covered by the hash chain: anything but a record number counts as "nothing indexed" (verify says so)
  return watermarkValid(w, headSeq) ? (w as number) : 0;
}

/** Whether a stored watermark is a record number of this trail (absent counts as valid). */
export function watermarkValid(w: unknown, headSeq: number): boolean {
  return w === undefined || (Number.isSafeInteger(w) && (w as number) >= 0 && (w as number) <= headSeq);
}

export function storedWatermark(store: Store): unknown {
  return store.meta.get(INDEXED_KEY);
}

function indexRange(store: Store, from: number, through: number): void {
  for (let seq = from; seq <= through; seq++) {
    const rec = store.audit.get(seq) as AuditRecord | undefined;
    if (rec) for (const k of indexKeys(rec)) store.auditIndex.put(k, 1);
  }
}

/** Writes the index entries of deferred records, inside the caller's write transaction; returns how many. */
export function indexAuditTail(store: Store): number {
  const head = auditHead(store).seq;
  const from = indexedThrough(store, head) + 1;
  if (from > head) return 0;
  indexRange(store, from, head);
  store.meta.put(INDEXED_KEY, head);
  return head - from + 1;
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
