// Shared by the audit tests: a throw-away LMDB store, and a synthetic trail of many messages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { openStore, type Store } from '../../src/store.js';
import { appendInTxn } from '../../src/audit/append.js';
import type { AuditInput } from '../../src/audit/record.js';

export function tempStore(t: ExecutionContext): { store: Store; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-audit-'));
  const store = openStore(dir);
  let closed = false;
  const close = store.close;
  store.close = async () => { if (!closed) { closed = true; await close(); } };
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, dir };
}

export const BASE_TIME = Date.parse('2026-11-29T10:00:00.000Z');

export interface SynthMessage { i: number; messageId: string; queueId: string; sender: string; recipient: string; time: number }

/**
 * Writes `count` messages of five events each (received, queued, dkim-signed, delivery-attempt, delivered),
 * message i at BASE_TIME + i seconds. Message ids and queue ids are chosen so that some are prefixes of
 * others ("msg-1" and "msg-10"), which a careless index range would mix up.
 */
export function writeSyntheticTrail(store: Store, count: number): SynthMessage[] {
  const out: SynthMessage[] = [];
  store.env.transactionSync(() => {
    for (let i = 0; i < count; i++) {
      const m: SynthMessage = {
        i, messageId: `msg-${i}`, queueId: `Q${i}`, sender: `sender${i % 7}@clinic.test`, recipient: `p${i}@example.net`, time: BASE_TIME + i * 1000,
      };
      out.push(m);
      const base = { queueId: m.queueId, messageId: m.messageId, sender: m.sender };
      const events: AuditInput[] = [
        { event: 'received', ...base, recipients: [m.recipient], details: { size: 1000 + i } },
        { event: 'queued', ...base, recipients: [m.recipient], details: { recipients: 1 } },
        { event: 'dkim-signed', ...base, details: { domain: 'clinic.test' } },
        { event: 'delivery-attempt', ...base, recipients: [m.recipient], details: { host: 'mx.example.net' } },
        { event: 'delivered', ...base, recipient: m.recipient, details: { host: 'mx.example.net' } },
      ];
      events.forEach((e, k) => appendInTxn(store, e, new Date(m.time + k)));
    }
  });
  return out;
}

/** Counts reads of audit records and makes any full scan of the audit database throw. */
export function instrument(store: Store): { gets: () => number; reset: () => void } {
  let gets = 0;
  const db = store.audit as unknown as Record<string, (...a: unknown[]) => unknown>;
  const get = db['get']!.bind(store.audit);
  db['get'] = (...a: unknown[]) => { gets++; return get(...a); };
  for (const scan of ['getRange', 'getKeys', 'getValues']) {
    db[scan] = () => { throw new Error(`full scan of the audit database (${scan})`); };
  }
  return { gets: () => gets, reset: () => { gets = 0; } };
}
