// Shared set-up for the listener tests: an in-process gateway on ephemeral ports, a user, and ways to look at
// what the gateway kept (queue, audit) after a refusal.
import type { ExecutionContext } from 'ava';
import { makeGatewayDir, startTestGateway, type GatewayDir } from '../helpers/gateway.js';
import type { Gateway } from '../../src/gateway.js';
import { hashPassword, loadUsers, saveUsers } from '../../src/listener/users.js';
import { listEntries } from '../../src/spool/spool.js';
import { queryAudit } from '../../src/audit/query.js';
import type { AuditRecord, AuditEventName } from '../../src/audit/record.js';

export const USER = 'frontdesk';
export const PASSWORD = 'correct horse battery staple';

export interface Running { gw: Gateway; d: GatewayDir; port: (name: 'submission' | 'smtps' | 'relay') => number }

export async function addUser(d: GatewayDir, name = USER, password = PASSWORD): Promise<void> {
  const file = d.config['users'] as string;
  const users = loadUsers(file);
  users.set(name, { hash: await hashPassword(password), created: new Date().toISOString() });
  saveUsers(file, users);
}

/** Starts a gateway for one test, with user frontdesk; stopped at teardown. */
export async function gateway(t: ExecutionContext, patch: Record<string, any> = {}): Promise<Running> {
  const d = makeGatewayDir(patch);
  await addUser(d);
  const gw = await startTestGateway(d);
  t.teardown(() => gw.stop());
  return { gw, d, port: (name) => gw.listeners.addresses[name]!.port };
}

export async function until<T>(fn: () => T | undefined | null | false, timeoutMs = 3000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function events(gw: Gateway, event?: AuditEventName): AuditRecord[] {
  return queryAudit(gw.store, event ? { event } : {});
}

/** Waits for the listener's audit event (written asynchronously after the reply). */
export function waitEvent(gw: Gateway, event: AuditEventName, pred: (r: AuditRecord) => boolean = () => true): Promise<AuditRecord> {
  return until(() => events(gw, event).find(pred), 3000, `audit event ${event}`);
}

/** Nothing was accepted: no queue entry and no `received` event. */
export function nothingAccepted(gw: Gateway): boolean {
  return listEntries(gw.store).length === 0 && events(gw, 'received').length === 0;
}

/** A human sentence: words, not just a code or a token. */
export const SENTENCE = /^[A-Z][A-Za-z']*:? \S.*[a-z]/;
