// Owns the spool: message bytes and queue entries (per-recipient state) in LMDB. Writes run inside a caller's
// transaction so the pipeline can add audit events to the same commit; `commitDurably` groups many callers
// into one synced commit (group commit).
import type { Store } from '../store.js';
import type { Queued, Received, RecipientStatus } from '../envelope.js';

export function newEntry(env: Received, now: number): Queued {
  return {
    ...env,
    status: env.recipients.map((address): RecipientStatus => ({ address, state: 'pending', attempts: 0, nextAttemptAt: now, updatedAt: now })),
  };
}

export function putInTxn(store: Store, entry: Queued, bytes: Buffer): void {
  store.messages.put(entry.queueId, bytes);
  store.queue.put(entry.queueId, entry);
}

/** As putInTxn, with bytes sealed already (the acceptance journal's copy). */
export function putSealedInTxn(store: Store, entry: Queued, sealed: Buffer): void {
  store.messages.putSealed(entry.queueId, sealed);
  store.queue.put(entry.queueId, entry);
}

export function updateInTxn(store: Store, entry: Queued): void {
  store.queue.put(entry.queueId, entry);
}

/** Keys of what later stages keep beside a queued message (its scan, its signed bytes and their facts). */
export const DERIVED = { out: 'out:', scan: 'scan:', passphrase: 'pass:' } as const;

/** Removes a finished entry: its bytes, its entry and everything derived from it. The audit keeps the history. */
export function removeInTxn(store: Store, queueId: string): void {
  store.messages.remove(queueId);
  store.queue.remove(queueId);
  store.messages.remove(DERIVED.out + queueId);
  store.meta.remove(DERIVED.out + queueId);
  // per-recipient-group copies (a rule's edits): out:<id>#<variant>
  const variants = { start: `${DERIVED.out}${queueId}#`, end: `${DERIVED.out}${queueId}$` };
  for (const k of [...store.messages.getKeys(variants)]) store.messages.remove(k);
  for (const k of [...store.meta.getKeys(variants)]) store.meta.remove(k);
  store.meta.remove(DERIVED.scan + queueId);
  store.messages.remove(DERIVED.passphrase + queueId);
}

export function getEntry(store: Store, queueId: string): Queued | undefined {
  return store.queue.get(queueId) as Queued | undefined;
}

/** The message bytes: a fresh copy (lmdb copies out of the map), the caller's to keep or hand on. */
export function getBytes(store: Store, queueId: string): Buffer | undefined {
  return store.messages.get(queueId) ?? undefined;
}

/** Entries with a recipient held for an admin (the quarantine). */
export function heldEntries(store: Store): Queued[] {
  return listEntries(store).filter((e) => e.status.some((s) => s.state === 'held'));
}

export function listEntries(store: Store): Queued[] {
  const out: Queued[] = [];
  for (const { value } of store.queue.getRange({})) out.push(value as Queued);
  return out;
}

/**
 * Runs `writes` in one write transaction of lmdb's async batch, which groups concurrent callers into one commit
 * (and, with `durable`, one fsync: resolves only once the commit is synced to disk).
 */
export async function commit<T>(store: Store, writes: () => T, opts: { durable: boolean }): Promise<T> {
  let result!: T;
  await store.env.transaction(() => { result = writes(); });
  if (opts.durable) await store.durable();
  return result;
}

/** Runs `writes` in one write transaction and resolves only once that commit is synced to disk. */
export function commitDurably<T>(store: Store, writes: () => T): Promise<T> {
  return commit(store, writes, { durable: true });
}

export function isFinished(entry: Queued): boolean {
  return entry.status.every((s) => s.state === 'delivered' || s.state === 'bounced' || s.state === 'discarded');
}
