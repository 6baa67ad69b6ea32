// Owns `phigate queue list|show|retry|delete`: the admin's view of messages waiting for delivery. Changes are
// audited with the admin's name; a running gateway picks them up at its next queue scan (within seconds).
import type { Command } from 'commander';
import { getEntry, listEntries, removeInTxn, updateInTxn, commitDurably } from '../spool/spool.js';
import { appendInTxn } from '../audit/append.js';
import { PhigateError } from '../errors.js';
import type { Queued } from '../envelope.js';
import { adminName, configOf, print, table, withConfig, withStore } from './common.js';

function summary(e: Queued): string {
  const counts = new Map<string, number>();
  for (const s of e.status) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v} ${k}`).join(', ');
}

function mustGet(store: Parameters<typeof getEntry>[0], id: string): Queued {
  const e = getEntry(store, id);
  if (!e) throw new PhigateError('QUEUE_NOT_FOUND', `no queue entry ${id} (delivered and bounced messages leave the queue; see: phigate audit query --queue-id ${id})`);
  return e;
}

export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('messages waiting for delivery');
  withConfig(queue.command('list'))
    .description('list queued messages')
    .option('--json', 'one JSON object per line')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      await withStore(config, (store) => {
        const entries = listEntries(store);
        if (o.json) return entries.forEach((e) => print(JSON.stringify({ queueId: e.queueId, receivedAt: new Date(e.receivedAt).toISOString(), sender: e.sender, size: e.size, status: e.status })));
        if (!entries.length) return print('queue is empty');
        print(table(['QUEUE ID', 'RECEIVED', 'SIZE', 'SENDER', 'RECIPIENTS', 'NEXT ATTEMPT'], entries.map((e) => {
          const open = e.status.filter((s) => s.state === 'pending' || s.state === 'deferred');
          const next = open.length ? new Date(Math.min(...open.map((s) => s.nextAttemptAt))).toISOString() : '-';
          return [e.queueId, new Date(e.receivedAt).toISOString(), String(e.size), e.sender || '<>', summary(e), next];
        })));
      });
    });
  withConfig(queue.command('show <id>'))
    .description('show one queued message: envelope and per-recipient state (never its content)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      await withStore(config, (store) => {
        const e = mustGet(store, id);
        if (o.json) return print(JSON.stringify(e, null, 2));
        print(`queue id:    ${e.queueId}`);
        print(`message id:  ${e.messageId ?? '-'}`);
        print(`received:    ${new Date(e.receivedAt).toISOString()} via ${e.client.listener} from ${e.client.clientIp}${e.client.user ? ` (user ${e.client.user})` : ''}`);
        print(`sender:      ${e.sender || '<>'}`);
        print(`size:        ${e.size} bytes, sha256 ${e.sha256}`);
        if (e.undecided) print('policy:      not decided yet (it is scanned and decided before its first delivery)');
        print('');
        print(table(['RECIPIENT', 'STATE', 'ATTEMPTS', 'NEXT ATTEMPT', 'LAST REPLY'], e.status.map((s) => [
          s.address, s.state, String(s.attempts),
          s.state === 'pending' || s.state === 'deferred' ? new Date(s.nextAttemptAt).toISOString() : '-',
          (s.lastReply ?? '').slice(0, 100),
        ])));
      });
    });
  withConfig(queue.command('retry <id>'))
    .description('retry the deferred recipients of a message now')
    .action(async (id: string, _o, cmd: Command) => {
      const config = configOf(cmd);
      await withStore(config, async (store) => {
        const e = mustGet(store, id);
        const now = Date.now();
        const retried = e.status.filter((s) => s.state === 'deferred' || s.state === 'pending');
        const updated: Queued = { ...e, status: e.status.map((s) => (s.state === 'deferred' || s.state === 'pending' ? { ...s, nextAttemptAt: now } : s)) };
        await commitDurably(store, () => {
          updateInTxn(store, updated);
          appendInTxn(store, { event: 'admin', actor: adminName(), queueId: id, messageId: e.messageId, sender: e.sender, recipients: retried.map((s) => s.address), details: { action: 'queue-retry' } });
        });
        print(`${id}: ${retried.length} recipient(s) scheduled for immediate retry`);
      });
    });
  withConfig(queue.command('delete <id>'))
    .description('delete a queued message without delivering it (no DSN is sent)')
    .action(async (id: string, _o, cmd: Command) => {
      const config = configOf(cmd);
      await withStore(config, async (store) => {
        const e = mustGet(store, id);
        const open = e.status.filter((s) => s.state === 'deferred' || s.state === 'pending').map((s) => s.address);
        await commitDurably(store, () => {
          removeInTxn(store, id);
          appendInTxn(store, { event: 'admin', actor: adminName(), queueId: id, messageId: e.messageId, sender: e.sender, recipients: open, details: { action: 'queue-delete', undelivered: open.length } });
        });
        print(`${id}: deleted (${open.length} recipient(s) were still undelivered)`);
      });
    });
}
