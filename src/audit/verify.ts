// Owns verification of the audit chain: every record's hash recomputed, every link to its predecessor and
// the sequence checked, every index entry present (for records the indexes are said to cover), and the stored
// head compared with the last record. Names the first bad record.
import type { Store } from '../store.js';
import { GENESIS, hashRecord, type AuditRecord } from './record.js';
import { auditHead, indexedThrough, indexKeys, INDEX, storedWatermark, watermarkValid } from './append.js';

const INDEX_NAME = new Map<unknown, string>(Object.entries(INDEX).map(([name, prefix]) => [prefix, name]));

export interface VerifyResult {
  ok: boolean;
  records: number;
  headSeq: number;
  headHash: string;
  firstBad?: { seq: number; reason: string };
  /** records appended since the indexes were last brought up to date (queries read them directly) */
  unindexed?: number;
}

export function verifyAudit(store: Store): VerifyResult {
  let prevHash = GENESIS;
  let expected = 1;
  let count = 0;
  const indexed = indexedThrough(store);
  const fail = (seq: number, reason: string): VerifyResult => ({ ok: false, records: count, headSeq: expected - 1, headHash: prevHash, firstBad: { seq, reason } });
  for (const { key, value } of store.audit.getRange({ start: 0 })) {
    const rec = value as AuditRecord;
    if (key !== expected) return fail(expected, `record ${expected} is missing (next stored is ${key})`);
    if (!rec || typeof rec !== 'object' || rec.seq !== key) return fail(key, 'record is unreadable or its seq does not match its key');
    if (rec.prev !== prevHash) return fail(key, 'prev does not match the hash of the record before it');
    if (hashRecord(rec) !== rec.hash) return fail(key, 'content does not match its hash (record altered)');
    // Queries read through the indexes: a removed index entry would hide this record from them.
    const lost = key <= indexed ? indexKeys(rec).find((k) => !store.auditIndex.doesExist(k)) : undefined;
    if (lost) return fail(key, `its ${INDEX_NAME.get(lost[0]) ?? String(lost[0])} index entry is missing: queries would not find this record`);
    prevHash = rec.hash;
    expected++;
    count++;
  }
  const head = auditHead(store);
  if (!watermarkValid(storedWatermark(store), head.seq)) {
    return fail(head.seq, `the index watermark (audit-indexed) is not a record number of this trail: ${JSON.stringify(storedWatermark(store))}`);
  }
  if (head.seq !== count || head.hash !== prevHash) {
    return fail(head.seq > count ? count + 1 : head.seq, `stored head (seq ${head.seq}) does not match the last record (seq ${count}): records were removed or added`);
  }
  return { ok: true, records: count, headSeq: count, headHash: prevHash, ...(indexed < count ? { unindexed: count - indexed } : {}) };
}
