// Owns `phigate portal list|revoke ID`: the messages kept in the secure portal, and withdrawing one (its content
// is destroyed at once; the recipient's link then says the message was withdrawn). Audited with the admin's name.
import type { Command } from 'commander';
import { PhigateError } from '../errors.js';
import { appendDurable } from '../audit/append.js';
import { getPortal, revoke, stateOf, type PortalRecord } from '../portal/store.js';
import { adminName, configOf, print, table, withConfig, withStore } from './common.js';

export function registerPortal(program: Command): void {
  const portal = program.command('portal').description('messages kept in the secure portal');
  withConfig(portal.command('list'))
    .description('list portal messages: recipient, sender, state, expiry, opened')
    .option('--json', 'one JSON object per line')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      await withStore(configOf(cmd), (store) => {
        const now = Date.now();
        const all: PortalRecord[] = [];
        for (const { key, value } of store.meta.getRange({ start: 'portal:', end: 'portal;' })) if (/^portal:[0-9a-f]+$/.test(String(key))) all.push(value as PortalRecord);
        if (o.json) return all.forEach((r) => print(JSON.stringify({ id: r.id, queueId: r.queueId, sender: r.sender, recipient: r.recipient, state: stateOf(r, now), created: new Date(r.created).toISOString(), expiresAt: new Date(r.expiresAt).toISOString(), opened: r.opened })));
        if (!all.length) return print('no portal messages');
        print(table(['ID', 'RECIPIENT', 'SENDER', 'STATE', 'EXPIRES', 'OPENED'], all.map((r) => [r.id, r.recipient, r.sender || '<>', stateOf(r, now), new Date(r.expiresAt).toISOString().slice(0, 16), String(r.opened)])));
      });
    });
  withConfig(portal.command('revoke <id>'))
    .description('withdraw a portal message: its content is destroyed, its link stops working')
    .action(async (id: string, _o, cmd: Command) => {
      await withStore(configOf(cmd), async (store) => {
        const r = getPortal(store, id);
        if (!r) throw new PhigateError('QUEUE_NOT_FOUND', `no portal message ${id} (see: phigate portal list)`);
        if (!(await revoke(store, id))) throw new PhigateError('QUEUE_NOT_FOUND', `portal message ${id} is already ${stateOf(r, Date.now())}`);
        await appendDurable(store, [{ event: 'portal-revoked', actor: adminName(), queueId: r.queueId, messageId: r.messageId, sender: r.sender, recipient: r.recipient, details: { portalId: id } }]);
        print(`${id}: revoked; its content is destroyed`);
      });
    });
}
