// Owns audit queries: filters by message id, queue id, recipient, sender, event and time, served from the
// secondary indexes (the most selective one drives, the others filter), never a full scan when one is given.
// Records appended since the indexes were last brought up to date (acceptances defer theirs, for at most a
// moment) are read directly after the indexed ones.
import type { Store } from '../store.js';
import { INDEX, indexedThrough, auditHead } from './append.js';
import type { AuditRecord, AuditEventName } from './record.js';

export interface AuditQuery {
  since?: Date;
  until?: Date;
  messageId?: string;
  queueId?: string;
  sender?: string;
  recipient?: string;
  event?: AuditEventName;
  limit?: number;
}

function seqsFrom(store: Store, prefix: string, value: string | number, lo?: number, hi?: number): number[] {
  const start = lo === undefined ? [prefix, value] : [prefix, lo];
  const end = hi === undefined ? [prefix, value, Number.MAX_SAFE_INTEGER] : [prefix, hi, Number.MAX_SAFE_INTEGER];
  const out: number[] = [];
  for (const key of store.auditIndex.getKeys({ start, end })) out.push(key[key.length - 1] as number);
  return out;
}

function matches(rec: AuditRecord, q: AuditQuery): boolean {
  const t = Date.parse(rec.time);
  if (q.since && t < q.since.getTime()) return false;
  if (q.until && t > q.until.getTime()) return false;
  if (q.messageId && rec.messageId !== q.messageId) return false;
  if (q.queueId && rec.queueId !== q.queueId) return false;
  if (q.event && rec.event !== q.event) return false;
  if (q.sender && (rec.sender ?? '').toLowerCase() !== q.sender.toLowerCase()) return false;
  if (q.recipient) {
    const r = q.recipient.toLowerCase();
    const all = [rec.recipient ?? '', ...(rec.recipients ?? [])].map((x) => x.toLowerCase());
    if (!all.includes(r)) return false;
  }
  return true;
}

/** Which index drives the query; exposed so tests can assert an index is used. */
export function plan(q: AuditQuery): { index: keyof typeof INDEX | 'scan' } {
  if (q.messageId) return { index: 'messageId' };
  if (q.queueId) return { index: 'queueId' };
  if (q.recipient) return { index: 'recipient' };
  if (q.sender !== undefined) return { index: 'sender' };
  if (q.since || q.until) return { index: 'time' };
  if (q.event) return { index: 'event' };
  return { index: 'scan' };
}

export function queryAudit(store: Store, q: AuditQuery): AuditRecord[] {
  const limit = q.limit ?? Number.MAX_SAFE_INTEGER;
  const p = plan(q);
  let seqs: Iterable<number>;
  switch (p.index) {
    case 'messageId': seqs = seqsFrom(store, INDEX.messageId, q.messageId!); break;
    case 'queueId': seqs = seqsFrom(store, INDEX.queueId, q.queueId!); break;
    case 'recipient': seqs = seqsFrom(store, INDEX.recipient, q.recipient!.toLowerCase()); break;
    case 'sender': seqs = seqsFrom(store, INDEX.sender, q.sender!.toLowerCase()); break;
    case 'time': seqs = seqsFrom(store, INDEX.time, 0, q.since?.getTime() ?? 0, q.until?.getTime() ?? Number.MAX_SAFE_INTEGER).sort((a, b) => a - b); break;
    case 'event': seqs = seqsFrom(store, INDEX.event, q.event!); break;
    default: seqs = store.audit.getKeys({ start: 1 }) as Iterable<number>;
  }
  if (p.index !== 'scan') {
    const { seq: head } = auditHead(store);
    const indexed = indexedThrough(store, head);
    if (indexed < head) seqs = [...seqs, ...Array.from({ length: head - indexed }, (_, i) => indexed + 1 + i)];
  }
  const out: AuditRecord[] = [];
  for (const seq of seqs) {
    const rec = store.audit.get(seq) as AuditRecord | undefined;
    if (rec && matches(rec, q)) {
      out.push(rec);
      if (out.length >= limit) break;
    }
  }
  return out;
}
