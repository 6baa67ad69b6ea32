// Owns the shape of an audit record and its hash: SHA-256 over the previous record's hash and the record's
// own canonical JSON (keys sorted), which makes the trail a verifiable chain.
import { createHash } from 'node:crypto';

export const AUDIT_EVENTS = [
  'received', 'queued', 'scanned', 'dkim-signed', 'delivery-attempt', 'delivered', 'deferred', 'bounced', 'dsn-sent',
  'auth-failed', 'auth-locked', 'rejected', 'admin', 'expired',
  'policy', 'policy-reload', 'policy-reload-failed', 'route-fallback', 'held', 'notice-sent', 'quarantine-release', 'quarantine-delete',
  'encrypted', 'keys-import', 'keys-remove', 'certs-import', 'certs-remove',
  'portal-stored', 'portal-revoked', 'portal-opened', 'portal-code-sent', 'portal-code-failed', 'portal-locked', 'portal-attachment',
  'portal-replied', 'portal-reply-failed', 'portal-expired-view', 'portal-expired', 'portal-rate-limited',
] as const;
export type AuditEventName = (typeof AUDIT_EVENTS)[number];

export const GENESIS = '0'.repeat(64);

/** What a stage hands to the audit: facts, never message content or PHI. */
export interface AuditInput {
  event: AuditEventName;
  queueId?: string | null;
  messageId?: string | null;
  sender?: string | null;
  recipient?: string | null;
  recipients?: string[];
  actor?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditRecord {
  seq: number;
  time: string;
  event: AuditEventName;
  queueId: string | null;
  messageId: string | null;
  sender: string | null;
  recipient: string | null;
  recipients?: string[];
  actor: string | null;
  details: Record<string, unknown>;
  prev: string;
  hash: string;
}

/**
 * Canonical JSON: keys sorted, and exactly JSON's view of every value (toJSON honoured, undefined array items
 * as null, undefined properties left out), so a record hashes the same before it is stored and after.
 */
export function canonical(value: unknown): string {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonical((value as { toJSON: () => unknown }).toJSON());
  }
  if (value === null || typeof value !== 'object') {
    const j = JSON.stringify(value);
    return j === undefined ? 'null' : j;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined || typeof v === 'function' ? 'null' : canonical(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined && typeof obj[k] !== 'function').sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(',')}}`;
}

/** JSON's view of a value: what the store keeps and verify reads back (a Date becomes its ISO string, etc.). */
function asStored<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function hashRecord(rec: Omit<AuditRecord, 'hash'>): string {
  // Hash the record as the store will return it, so a detail JSON rewrites cannot break the chain.
  const body: Partial<AuditRecord> = { ...rec };
  delete body.hash;
  return createHash('sha256').update(rec.prev).update('\n').update(canonical(body)).digest('hex');
}

export function buildRecord(input: AuditInput, seq: number, prev: string, now: Date): AuditRecord {
  const base: Omit<AuditRecord, 'hash'> = {
    seq,
    time: now.toISOString(),
    event: input.event,
    queueId: input.queueId ?? null,
    messageId: input.messageId ?? null,
    sender: input.sender ?? null,
    recipient: input.recipient ?? null,
    ...(input.recipients ? { recipients: input.recipients } : {}),
    actor: input.actor ?? null,
    details: asStored(input.details ?? {}),
    prev,
  };
  return { ...base, hash: hashRecord(base) };
}
