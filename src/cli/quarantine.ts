// Owns `phigate quarantine list|show|release|delete`: messages policy held for an admin (a quarantine rule, or no
// protected way to send). Each action is audited with the admin's name; a running gateway picks up a release at
// its next queue scan (within seconds). Nothing here prints message content.
import type { Command } from 'commander';
import { commitDurably, getEntry, heldEntries, removeInTxn, updateInTxn, isFinished, DERIVED } from '../spool/spool.js';
import { appendInTxn } from '../audit/append.js';
import { PhigateError } from '../errors.js';
import { domainOf, type Queued, type ScanFacts, type TlsLevel } from '../envelope.js';
import { lookupDomain } from '../deliver/domain-table.js';
import type { Store } from '../store.js';
import { adminName, configOf, print, table, withConfig, withStore } from './common.js';

const LEVELS: TlsLevel[] = ['none', 'may', 'encrypt', 'verify'];

function mustGetHeld(store: Store, id: string): Queued {
  const e = getEntry(store, id);
  if (!e || !e.status.some((s) => s.state === 'held')) {
    throw new PhigateError('QUARANTINE_NOT_FOUND', `no held message ${id} (see: phigate quarantine list; its history: phigate audit query --queue-id ${id})`);
  }
  return e;
}

const scanOf = (store: Store, id: string) => store.meta.get(DERIVED.scan + id) as ScanFacts | undefined;

export function registerQuarantine(program: Command): void {
  const q = program.command('quarantine').description('messages held for an admin by policy');
  withConfig(q.command('list'))
    .description('list held messages')
    .option('--json', 'one JSON object per line')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      await withStore(configOf(cmd), (store) => {
        const entries = heldEntries(store);
        if (o.json) {
          return entries.forEach((e) => print(JSON.stringify({
            queueId: e.queueId, messageId: e.messageId, receivedAt: new Date(e.receivedAt).toISOString(), sender: e.sender,
            held: e.status.filter((s) => s.state === 'held').map((s) => ({ recipient: s.address, rule: s.route?.rule ?? null, reason: s.heldReason ?? null })),
          })));
        }
        if (!entries.length) return print('quarantine is empty');
        print(table(['QUEUE ID', 'RECEIVED', 'SENDER', 'HELD RECIPIENT', 'RULE', 'REASON'], entries.flatMap((e) => e.status.filter((s) => s.state === 'held').map((s) => [
          e.queueId, new Date(e.receivedAt).toISOString(), e.sender || '<>', s.address, s.route?.rule ?? '-', (s.heldReason ?? '').slice(0, 90),
        ]))));
      });
    });
  withConfig(q.command('show <id>'))
    .description('show a held message: envelope, why each recipient is held, and its scan (types and counts, never content)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      await withStore(configOf(cmd), (store) => {
        const e = mustGetHeld(store, id);
        const scan = scanOf(store, id);
        const findings = (scan?.findings ?? []).map((f) => ({ type: f.type, where: f.where, count: f.count }));
        if (o.json) return print(JSON.stringify({ ...e, scan: scan ? { phi: scan.phi, reasons: scan.reasons, findings, unscanned: scan.unscanned } : null }, null, 2));
        print(`queue id:    ${e.queueId}`);
        print(`message id:  ${e.messageId ?? '-'}`);
        print(`received:    ${new Date(e.receivedAt).toISOString()} via ${e.client.listener} from ${e.client.clientIp}${e.client.user ? ` (user ${e.client.user})` : ''}`);
        print(`sender:      ${e.sender || '<>'}`);
        print(`size:        ${e.size} bytes`);
        if (scan) print(`scan:        PHI ${scan.phi ? 'yes' : 'no'}${scan.reasons.length ? ` (${scan.reasons.join(', ')})` : ''}; ${findings.map((f) => `${f.type} x${f.count} in ${f.where}`).join(', ') || 'no findings'}${scan.unscanned.length ? `; not scanned: ${scan.unscanned.map((u) => u.reason).join(', ')}` : ''}`);
        print('');
        print(table(['RECIPIENT', 'STATE', 'RULE', 'WHY'], e.status.map((s) => [s.address, s.state, s.route?.rule ?? '-', s.state === 'held' ? s.heldReason ?? '' : (s.lastReply ?? '').slice(0, 80)])));
      });
    });
  withConfig(q.command('release <id>'))
    .description('deliver the held recipients of a message; possible PHI goes over verified TLS unless --tls says otherwise')
    .option('--tls <level>', 'TLS level for the release: none, may, encrypt or verify (default: verify for possible PHI, else the destination\'s outbound.tls)')
    .action(async (id: string, o: { tls?: string }, cmd: Command) => {
      if (o.tls !== undefined && !LEVELS.includes(o.tls as TlsLevel)) throw new PhigateError('USAGE', `--tls must be one of: ${LEVELS.join(', ')}`);
      const config = configOf(cmd);
      await withStore(config, async (store) => {
        const e = mustGetHeld(store, id);
        const scan = scanOf(store, id);
        const possiblePhi = !scan || scan.phi || scan.unscanned.length > 0;
        const now = Date.now();
        const released: { address: string; tls: TlsLevel }[] = [];
        const status = e.status.map((s) => {
          if (s.state !== 'held') return s;
          const tls = (o.tls as TlsLevel | undefined) ?? (possiblePhi ? 'verify' : lookupDomain(config.outbound.tls, domainOf(s.address), 'verify'));
          released.push({ address: s.address, tls });
          const { heldReason: _h, method: _m, ...rest } = s;
          return { ...rest, state: 'pending' as const, nextAttemptAt: now, updatedAt: now, route: { rule: 'quarantine-release', action: 'deliver' as const, tls, ...(s.route?.changes ? { changes: s.route.changes } : {}) } };
        });
        await commitDurably(store, () => {
          updateInTxn(store, { ...e, status });
          appendInTxn(store, { event: 'quarantine-release', actor: adminName(), queueId: id, messageId: e.messageId, sender: e.sender, recipients: released.map((r) => r.address), details: { tls: [...new Set(released.map((r) => r.tls))], releasedBy: adminName() } });
        });
        print(`${id}: released ${released.length} recipient(s) (${released.map((r) => `${r.address} over ${r.tls}`).join(', ')}); the gateway sends them within seconds`);
      });
    });
  withConfig(q.command('delete <id>'))
    .description('discard the held recipients of a message without delivering (audited; no DSN)')
    .action(async (id: string, _o, cmd: Command) => {
      await withStore(configOf(cmd), async (store) => {
        const e = mustGetHeld(store, id);
        const now = Date.now();
        const gone = e.status.filter((s) => s.state === 'held').map((s) => s.address);
        const updated: Queued = { ...e, status: e.status.map((s) => (s.state === 'held' ? { ...s, state: 'discarded' as const, updatedAt: now } : s)) };
        await commitDurably(store, () => {
          if (isFinished(updated)) removeInTxn(store, id);
          else updateInTxn(store, updated);
          appendInTxn(store, { event: 'quarantine-delete', actor: adminName(), queueId: id, messageId: e.messageId, sender: e.sender, recipients: gone, details: { discarded: gone.length, deletedBy: adminName() } });
        });
        print(`${id}: discarded ${gone.length} held recipient(s)`);
      });
    });
}
