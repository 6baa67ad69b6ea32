// `phigate queue list|show|retry|delete` against a running gateway's data dir (two processes on one LMDB
// environment, as in production): messages wait because their next hop is a closed port. retry makes the
// running gateway try again at its next scan; delete removes the entry; both are `admin` audit events with
// the admin's name. show never prints message content.
import test from 'ava';
import { makeGatewayDir, startTestGateway, freePort } from '../helpers/gateway.js';
import { relaySend } from '../helpers/raw-smtp.js';
import { getEntry, listEntries } from '../../src/spool/spool.js';
import type { Gateway } from '../../src/gateway.js';
import { phigate, auditJson, ACTOR, ONE_LINE_ERROR } from './kit.js';

async function until<T>(fn: () => T | undefined | null | false, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function send(gw: Gateway, from: string, to: string[], body: string): Promise<string> {
  return relaySend(gw.listeners.addresses['relay']!.port, from, to, `From: ${from}\r\nSubject: Lab results for J. Doe\r\nMessage-ID: <${body}@lab.test>\r\n\r\n${body}`);
}

async function deferredGateway(t: import('ava').ExecutionContext) {
  const closed = await freePort();
  const d = makeGatewayDir({
    outbound: { routes: { 'example.net': `127.0.0.1:${closed}` }, tls: { '*': 'verify', 'example.net': 'none' }, caFile: null, retry: { schedule: ['1h'], maxAge: '2d' } },
  });
  const gw = await startTestGateway(d, undefined, 300);
  t.teardown(() => gw.stop());
  return { d, gw };
}

test('queue list, show, retry and delete on a live gateway, each change audited with the actor', async (t) => {
  const { d, gw } = await deferredGateway(t);
  const id = await send(gw, 'ehr@lab.test', ['a@example.net', 'b@example.net'], 'body-marker-7731');
  const id2 = await send(gw, 'billing@lab.test', ['c@example.net'], 'second-body-5512');
  const deferred = (q: string, n = 1) => getEntry(gw.store, q)?.status.every((s) => s.state === 'deferred' && s.attempts >= n);
  await until(() => deferred(id) && deferred(id2), 8000, 'both messages deferred');

  // list: both entries, with their recipients' state
  const list = await phigate(['queue', 'list', '--config', d.configFile]);
  t.is(list.code, 0, list.stderr);
  const rows = list.stdout.trim().split('\n');
  t.regex(rows[0]!, /^QUEUE ID\s+RECEIVED\s+SIZE\s+SENDER\s+RECIPIENTS\s+NEXT ATTEMPT$/);
  t.is(rows.length, 4);
  t.regex(list.stdout, new RegExp(`^${id}\\s+\\S+\\s+\\d+\\s+ehr@lab\\.test\\s+2 deferred\\s+\\S+$`, 'm'));
  t.regex(list.stdout, new RegExp(`^${id2}\\s+\\S+\\s+\\d+\\s+billing@lab\\.test\\s+1 deferred\\s+\\S+$`, 'm'));
  const json = await phigate(['queue', 'list', '--config', d.configFile, '--json']);
  const objs = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { queueId: string; sender: string; status: { address: string; state: string }[] });
  t.deepEqual(objs.map((o) => o.queueId).sort(), [id, id2].sort());
  t.deepEqual(objs.find((o) => o.queueId === id)!.status.map((s) => [s.address, s.state]), [['a@example.net', 'deferred'], ['b@example.net', 'deferred']]);

  // show: envelope and per-recipient state, never content
  const show = await phigate(['queue', 'show', id, '--config', d.configFile]);
  t.is(show.code, 0, show.stderr);
  t.regex(show.stdout, new RegExp(`^queue id:\\s+${id}$`, 'm'));
  t.regex(show.stdout, /^message id:\s+body-marker-7731@lab\.test$/m);
  t.regex(show.stdout, /^sender:\s+ehr@lab\.test$/m);
  t.regex(show.stdout, /^received:\s+\S+ via relay from 127\.0\.0\.1$/m);
  t.regex(show.stdout, /^a@example\.net\s+deferred\s+1\s+\S+/m);
  t.regex(show.stdout, /^b@example\.net\s+deferred\s+1\s+\S+/m);
  t.false(show.stdout.includes('Lab results'), 'no subject');
  t.false(show.stdout.replace('body-marker-7731@lab.test', '').includes('body-marker-7731'), 'no body');
  t.false(show.stdout.includes('not decided yet'), 'tried once, so scanned and decided');
  // a message queued before its scan and policy decision says so
  await gw.store.queue.put(id2, { ...getEntry(gw.store, id2)!, undecided: true });
  const undecided = await phigate(['queue', 'show', id2, '--config', d.configFile]);
  t.regex(undecided.stdout, /^policy:\s+not decided yet \(it is scanned and decided before its first delivery\)$/m);
  const showJson = JSON.parse((await phigate(['queue', 'show', id, '--json', '--config', d.configFile])).stdout) as { queueId: string; status: unknown[] };
  t.is(showJson.queueId, id);
  t.is(showJson.status.length, 2);

  // retry: the running gateway tries again at its next scan instead of in an hour
  const before = getEntry(gw.store, id)!.status[0]!.nextAttemptAt;
  t.true(before > Date.now() + 30 * 60_000, 'next attempt was an hour away');
  const retry = await phigate(['queue', 'retry', id, '--config', d.configFile]);
  t.is(retry.code, 0, retry.stderr);
  t.is(retry.stdout, `${id}: 2 recipient(s) scheduled for immediate retry\n`);
  await until(() => deferred(id, 2), 8000, 'a second attempt after retry');
  t.true(getEntry(gw.store, id2)!.status.every((s) => s.attempts === 1), 'the other message was left alone');

  // delete: gone from the queue, the gateway does not bring it back
  const del = await phigate(['queue', 'delete', id2, '--config', d.configFile]);
  t.is(del.code, 0, del.stderr);
  t.is(del.stdout, `${id2}: deleted (1 recipient(s) were still undelivered)\n`);
  await new Promise((r) => setTimeout(r, 700)); // two rescans
  t.deepEqual(listEntries(gw.store).map((e) => e.queueId), [id]);
  const gone = await phigate(['queue', 'show', id2, '--config', d.configFile]);
  t.is(gone.code, 1);
  t.is(gone.stderr, `phigate: no queue entry ${id2} (delivered and bounced messages leave the queue; see: phigate audit query --queue-id ${id2})\n`);

  // both changes are admin events with the actor, tied to their messages
  const admin = (await auditJson(d.configFile, ['--event', 'admin'])).filter((e) => e.actor === ACTOR);
  t.deepEqual(admin.map((e) => [e.details['action'], e.queueId]), [['queue-retry', id], ['queue-delete', id2]]);
  t.deepEqual(admin[0]!.recipients, ['a@example.net', 'b@example.net']);
  t.is(admin[0]!.messageId, 'body-marker-7731@lab.test');
  t.is(admin[1]!.details['undelivered'], 1);
});

test('queue commands on an unknown id, and an empty queue', async (t) => {
  const d = makeGatewayDir();
  const empty = await phigate(['queue', 'list', '--config', d.configFile]);
  t.is(empty.code, 0, empty.stderr);
  t.is(empty.stdout, 'queue is empty\n');
  for (const cmd of ['show', 'retry', 'delete']) {
    const r = await phigate(['queue', cmd, '01ABCDEFGHJKMNPQRSTV', '--config', d.configFile]);
    t.is(r.code, 1, cmd);
    t.is(r.stdout, '', cmd);
    t.regex(r.stderr, ONE_LINE_ERROR, cmd);
    t.regex(r.stderr, /^phigate: no queue entry 01ABCDEFGHJKMNPQRSTV /, cmd);
  }
  t.is((await auditJson(d.configFile, ['--event', 'admin'])).length, 0, 'a refused change is not audited as done');
});
