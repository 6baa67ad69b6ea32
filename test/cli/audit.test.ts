// `phigate audit query` on a real trail: two messages delivered to a real SMTP server plus a failed login,
// then every output format and every filter through the binary, each checked against what the gateway did.
import test from 'ava';
import { makeGatewayDir, startTestGateway, type GatewayDir } from '../helpers/gateway.js';
import { startSink } from '../helpers/sink.js';
import { rawConnect, relaySend } from '../helpers/raw-smtp.js';
import type { Gateway } from '../../src/gateway.js';
import { queryAudit } from '../../src/audit/query.js';
import { phigate, auditJson, ONE_LINE_ERROR, type JsonEvent } from './kit.js';
import { cliInProcess } from '../helpers/cli.js';

function send(gw: Gateway, from: string, to: string[], messageId: string): Promise<string> {
  return relaySend(gw.listeners.addresses['relay']!.port, from, to, `From: ${from}\r\nSubject: results\r\nMessage-ID: <${messageId}>\r\n\r\nbody`);
}

interface Trail { d: GatewayDir; q1: string; q2: string; all: JsonEvent[] }

let trail: Promise<Trail> | null = null;

/** One trail for every test in this file, built once. */
function buildTrail(): Promise<Trail> {
  trail ??= (async () => {
    const sink = await startSink();
    const d = makeGatewayDir({
      outbound: { routes: { 'example.net': `127.0.0.1:${sink.port}` }, tls: { '*': 'verify', 'example.net': 'none' }, caFile: null, retry: { schedule: ['1s'], maxAge: '1h' } },
    });
    const gw = await startTestGateway(d, undefined, 200);
    let sent1 = '';
    let sent2 = '';
    try {
      sent1 = await send(gw, 'ehr@lab.test', ['Ann@Example.net', 'p2@example.net'], 'm1.4471@lab.test');
      sent2 = await send(gw, 'billing@lab.test', ['p3@example.net'], 'm2.9902@lab.test');
      const c = await rawConnect(gw.listeners.addresses['smtps']!.port, { tls: true });
      await c.read();
      await c.cmd('EHLO x.test');
      await c.cmd(`AUTH PLAIN ${Buffer.from('\0mallory\0not-the-password').toString('base64')}`);
      c.close();
      const end = Date.now() + 10_000;
      while (queryAudit(gw.store, { event: 'delivered' }).length < 3 || queryAudit(gw.store, { event: 'auth-failed' }).length < 1) {
        if (Date.now() > end) throw new Error('trail not complete');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await gw.stop();
      await sink.close();
    }
    const all = await auditJson(d.configFile, []);
    const q = (all.find((e) => e.messageId === 'm1.4471@lab.test')?.queueId)!;
    const q2 = (all.find((e) => e.messageId === 'm2.9902@lab.test')?.queueId)!;
    // the trail knows each message by the queue id its 250 reply gave
    if (q !== sent1 || q2 !== sent2) throw new Error(`audit queue ids ${q}, ${q2} differ from the replies ${sent1}, ${sent2}`);
    return { d, q1: q, q2, all };
  })();
  return trail;
}

test('json lines carry seq, time, event, queueId, messageId, sender, recipient, details, oldest first', async (t) => {
  const { all, q1 } = await buildTrail();
  t.true(all.length >= 12, `${all.length} events`);
  for (const e of all) {
    for (const k of ['seq', 'time', 'event', 'queueId', 'messageId', 'sender', 'recipient', 'details']) t.true(k in e, `${k} in ${JSON.stringify(e)}`);
    t.is(typeof e.seq, 'number');
    t.false(Number.isNaN(Date.parse(e.time)));
    t.is(typeof e.details, 'object');
  }
  t.deepEqual(all.map((e) => e.seq), [...all.map((e) => e.seq)].sort((a, b) => a - b));
  t.deepEqual(all.map((e) => e.seq), all.map((_, i) => all[0]!.seq + i), 'no gaps');
  const m1 = all.filter((e) => e.queueId === q1).map((e) => e.event);
  t.deepEqual(m1.slice(0, 2), ['received', 'queued']);
  t.is(m1.filter((e) => e === 'delivered').length, 2);
  const delivered = all.filter((e) => e.queueId === q1 && e.event === 'delivered').map((e) => e.recipient).sort();
  t.deepEqual(delivered, ['Ann@Example.net', 'p2@example.net']);
  const failed = all.find((e) => e.event === 'auth-failed')!;
  t.is(failed.details['user'], 'mallory');
  t.false(JSON.stringify(all).includes('not-the-password'));
});

test('--message-id and --queue-id select one message (angle brackets allowed)', async (t) => {
  const { d, all, q1, q2 } = await buildTrail();
  const byMid = await auditJson(d.configFile, ['--message-id', '<m1.4471@lab.test>']);
  t.deepEqual(byMid, all.filter((e) => e.messageId === 'm1.4471@lab.test'));
  t.true(byMid.length >= 5);
  t.true(byMid.every((e) => e.queueId === q1));
  const byQid = await auditJson(d.configFile, ['--queue-id', q2]);
  t.deepEqual(byQid, all.filter((e) => e.queueId === q2));
  const evs = byQid.map((e) => e.event);
  t.deepEqual(evs.slice(0, 2), ['received', 'queued']);
  t.is(evs[evs.length - 1], 'delivered');
  t.is(evs.filter((e) => e === 'delivered').length, 1);
});

test('--recipient (any case), --sender and --event filter, and combine', async (t) => {
  const { d, all, q1 } = await buildTrail();
  const ann = await auditJson(d.configFile, ['--recipient', 'ann@example.NET']);
  t.true(ann.length >= 3);
  for (const e of ann) t.true([e.recipient, ...(e.recipients ?? [])].some((r) => r?.toLowerCase() === 'ann@example.net'), JSON.stringify(e));
  t.false(ann.some((e) => e.event === 'delivered' && e.recipient === 'p2@example.net'));
  const billing = await auditJson(d.configFile, ['--sender', 'billing@lab.test']);
  t.true(billing.length >= 3);
  t.true(billing.every((e) => e.sender === 'billing@lab.test'));
  const delivered = await auditJson(d.configFile, ['--event', 'delivered']);
  t.deepEqual(delivered.map((e) => e.recipient).sort(), ['Ann@Example.net', 'p2@example.net', 'p3@example.net']);
  const one = await auditJson(d.configFile, ['--queue-id', q1, '--event', 'delivered', '--recipient', 'p2@example.net']);
  t.is(one.length, 1);
  t.deepEqual(one, all.filter((e) => e.queueId === q1 && e.event === 'delivered' && e.recipient === 'p2@example.net'));
});

test('--since, --until and --limit', async (t) => {
  const { d, all } = await buildTrail();
  t.deepEqual(await auditJson(d.configFile, ['--since', '1h']), all);
  t.deepEqual(await auditJson(d.configFile, ['--since', '2999-01-01T00:00:00Z']), []);
  t.deepEqual(await auditJson(d.configFile, ['--until', '2000-01-01']), []);
  const mid = all[Math.floor(all.length / 2)]!;
  const since = await auditJson(d.configFile, ['--since', mid.time]);
  t.deepEqual(since, all.filter((e) => Date.parse(e.time) >= Date.parse(mid.time)));
  t.true(since.length < all.length || all.every((e) => e.time === mid.time));
  const limited = await auditJson(d.configFile, ['--limit', '2']);
  t.deepEqual(limited, all.slice(0, 2));
  const limitedEvent = await auditJson(d.configFile, ['--event', 'delivered', '--limit', '1']);
  t.is(limitedEvent.length, 1);
});

test('csv and table formats show the same events', async (t) => {
  const { d, all, q2 } = await buildTrail();
  const csv = await phigate(['audit', 'query', '--config', d.configFile, '--format', 'csv']);
  t.is(csv.code, 0, csv.stderr);
  const lines = csv.stdout.trim().split('\n');
  t.is(lines[0], 'seq,time,event,queueId,messageId,sender,recipient,actor,details');
  t.is(lines.length, all.length + 1);
  t.deepEqual(lines.slice(1).map((l) => Number(l.split(',')[0])), all.map((e) => e.seq));
  t.regex(lines.find((l) => l.includes(',auth-failed,'))!, /"\{""listener"":""smtps"".*""user"":""mallory""/);
  const table = await phigate(['audit', 'query', '--config', d.configFile, '--queue-id', q2]);
  t.is(table.code, 0, table.stderr);
  const rows = table.stdout.trim().split('\n');
  t.regex(rows[0]!, /^SEQ\s+TIME\s+EVENT\s+QUEUE ID\s+RECIPIENT\s+DETAILS$/);
  t.is(rows.length, all.filter((e) => e.queueId === q2).length + 2);
  const none = await phigate(['audit', 'query', '--config', d.configFile, '--queue-id', 'NOSUCHID0000000000000']);
  t.is(none.stdout, 'no events match (index used: queueId)\n');
});

test('bad --since, --until, --event, --limit and --format are one-line errors with exit 1', async (t) => {
  const { d } = await buildTrail();
  const cases: [string[], RegExp][] = [
    [['--since', 'yesterday'], /^phigate: --since "yesterday" is not a time: use ISO 8601/],
    [['--since', '5'], /^phigate: --since "5" is not a time/],
    [['--since', '2026-02-30'], /^phigate: --since "2026-02-30" is not a time/],
    [['--until', 'Tuesday 12'], /^phigate: --until "Tuesday 12" is not a time/],
    [['--event', 'sent'], /^phigate: --event "sent" is not an event; use one of: received, /],
    [['--limit', '0'], /^phigate: --limit "0" must be a positive whole number/],
    [['--limit', 'ten'], /^phigate: --limit "ten" must be a positive whole number/],
    [['--format', 'xml'], /^phigate: --format "xml" must be table, json or csv/],
  ];
  for (const [i, [args, re]] of cases.entries()) {
    // the first two through the binary (exit status, no stack); the rest through main() in this process
    // (these fail before the store is opened)
    const r = await (i < 2 ? phigate : cliInProcess)(['audit', 'query', '--config', d.configFile, ...args]);
    t.is(r.code, 1, args.join(' '));
    t.is(r.stdout, '', args.join(' '));
    t.regex(r.stderr, ONE_LINE_ERROR, args.join(' '));
    t.regex(r.stderr, re);
  }
});
