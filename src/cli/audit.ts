// Owns `phigate audit query|verify`: the auditor's questions about what happened to a message, and proof that
// the trail has not been altered.
import type { Command } from 'commander';
import { queryAudit, plan, type AuditQuery } from '../audit/query.js';
import { verifyAudit } from '../audit/verify.js';
import { AUDIT_EVENTS, type AuditRecord, type AuditEventName } from '../audit/record.js';
import { PhigateError } from '../errors.js';
import { parseDuration } from '../config/units.js';
import { configOf, print, table, withConfig, withStore } from './common.js';
import { openStore } from '../store.js';

// ISO 8601 date or date-time only: Date.parse alone also takes "5" (May 2001) or "Tuesday 12" (2001), and an
// auditor's typo would silently query the wrong years.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

export function parseTime(v: string, flag: string): Date {
  if (/^\d+(ms|s|m|h|d)$/.test(v)) return new Date(Date.now() - parseDuration(v));
  const [y, mo, d] = v.slice(0, 10).split('-').map(Number) as [number, number, number];
  const realDay = new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d; // 2026-02-30 is not March 2
  const t = ISO_TIME.test(v) && realDay ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new PhigateError('AUDIT_QUERY', `${flag} "${v}" is not a time: use ISO 8601 (2026-11-29T10:00:00Z) or an age such as 2h or 7d`);
  return new Date(t);
}

function detailsText(r: AuditRecord): string {
  return Object.entries(r.details).filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
}

function jsonLine(r: AuditRecord): string {
  return JSON.stringify({
    seq: r.seq, time: r.time, event: r.event, queueId: r.queueId, messageId: r.messageId, sender: r.sender,
    recipient: r.recipient ?? (r.recipients && r.recipients.length === 1 ? r.recipients[0] : null),
    ...(r.recipients ? { recipients: r.recipients } : {}), actor: r.actor, details: r.details, hash: r.hash,
  });
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('query and verify the tamper-evident audit trail');
  withConfig(audit.command('query'))
    .description('print audit events matching all the given filters, oldest first')
    .option('--since <time>', 'ISO 8601 time, or an age such as 2h or 7d')
    .option('--until <time>', 'ISO 8601 time, or an age such as 2h or 7d')
    .option('--message-id <id>', 'Message-ID header value, without angle brackets')
    .option('--queue-id <id>', 'gateway queue id (from the 250 reply or a DSN)')
    .option('--sender <address>', 'envelope sender')
    .option('--recipient <address>', 'envelope recipient')
    .option('--event <name>', `one of: ${AUDIT_EVENTS.join(', ')}`)
    .option('--limit <n>', 'at most this many events')
    .option('--format <format>', 'table, json (one object per line) or csv', 'table')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const q: AuditQuery = {};
      if (o.since) q.since = parseTime(o.since, '--since');
      if (o.until) q.until = parseTime(o.until, '--until');
      if (o.messageId) q.messageId = o.messageId.replace(/^<|>$/g, '');
      if (o.queueId) q.queueId = o.queueId;
      if (o.sender !== undefined) q.sender = o.sender;
      if (o.recipient) q.recipient = o.recipient;
      if (o.event) {
        if (!(AUDIT_EVENTS as readonly string[]).includes(o.event)) throw new PhigateError('AUDIT_QUERY', `--event "${o.event}" is not an event; use one of: ${AUDIT_EVENTS.join(', ')}`);
        q.event = o.event as AuditEventName;
      }
      if (o.limit !== undefined) {
        if (!/^\d+$/.test(o.limit) || Number(o.limit) < 1) throw new PhigateError('AUDIT_QUERY', `--limit "${o.limit}" must be a positive whole number`);
        q.limit = Number(o.limit);
      }
      const format = o.format ?? 'table';
      if (!['table', 'json', 'csv'].includes(format)) throw new PhigateError('AUDIT_QUERY', `--format "${format}" must be table, json or csv`);
      const config = configOf(cmd);
      const store = openStore(config.dataDir);
      try {
        const rows = queryAudit(store, q);
        if (format === 'json') return rows.forEach((r) => print(jsonLine(r)));
        if (format === 'csv') {
          print('seq,time,event,queueId,messageId,sender,recipient,actor,details');
          return rows.forEach((r) => print([r.seq, r.time, r.event, r.queueId, r.messageId, r.sender, r.recipient ?? (r.recipients ?? []).join(' '), r.actor, r.details].map(csvCell).join(',')));
        }
        if (!rows.length) return print(`no events match (index used: ${plan(q).index})`);
        print(table(['SEQ', 'TIME', 'EVENT', 'QUEUE ID', 'RECIPIENT', 'DETAILS'], rows.map((r) => [
          String(r.seq), r.time, r.event, r.queueId ?? '-', r.recipient ?? ((r.recipients ?? []).join(',') || '-'), detailsText(r).slice(0, 160),
        ])));
      } finally {
        await store.close();
      }
    });
  withConfig(audit.command('verify'))
    .description('walk the hash chain; exit 1 naming the first bad record')
    .action(async (_o, cmd: Command) => {
      const config = configOf(cmd);
      const result = await withStore(config, (s) => verifyAudit(s));
      if (!result.ok) {
        throw new PhigateError('AUDIT_CHAIN_BROKEN', `audit chain broken at record ${result.firstBad!.seq}: ${result.firstBad!.reason} (${result.records} records before it verify)`);
      }
      print(`audit chain ok: ${result.records} records, head seq ${result.headSeq} hash ${result.headHash}`);
      if (result.unindexed) print(`${result.unindexed} newest record(s) not in the query indexes yet (the gateway adds them within a moment; queries read them directly)`);
      print('Keep the head hash outside this machine (ticket, email to your auditor): a later verify that shows it proves nothing before it changed.');
    });
}
