// Policy reload under load: messages keep flowing while a good edit (picked up from the file change) and then a bad
// edit land. No message is lost, each one leaves by the rule of the policy version it was decided under (the
// audit's policy event names it), a bad edit keeps the last good set and is audited with file:line:col.
import test from 'ava';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { makeGatewayDir, startTestGateway } from '../helpers/gateway.js';
import { startSink } from '../helpers/sink.js';
import { queryAudit } from '../../src/audit/query.js';

const policy = (tag: string) => `rules:\n  - id: tag-all\n    then:\n      deliver: may\n      tag: { subject: "[${tag}]" }\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('good and bad policy edits under load: nothing lost, nothing routed by the wrong version', async (t) => {
  const sink = await startSink();
  t.teardown(() => sink.close());
  const d = makeGatewayDir({ outbound: { routes: { '*': `127.0.0.1:${sink.port}` }, tls: { '*': 'may' }, caFile: null, retry: { schedule: ['10m'], maxAge: '1h' } } });
  const dir = join(d.dir, 'policies');
  mkdirSync(dir);
  const file = join(dir, '10-tag.yaml');
  writeFileSync(file, policy('v1'));
  const gw = await startTestGateway(d, undefined, 200);
  t.teardown(() => gw.stop());
  const v1 = gw.policy().version;

  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: gw.listeners.addresses['relay']!.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 4 });
  t.teardown(() => transport.close());
  const N = 90;
  const sent: { i: number; queueId: string }[] = [];
  let v2 = '';
  let badAt = -1;
  const edits = (async () => {
    while (sent.length < 30) await sleep(20);
    writeFileSync(file, policy('v2'));
    for (let end = Date.now() + 10_000; gw.policy().version === v1 && Date.now() < end;) await sleep(20);
    v2 = gw.policy().version;
    while (sent.length < 60) await sleep(20);
    writeFileSync(file, policy('v3').replace('deliver: may', 'delivr: may'));
    badAt = sent.length;
    for (let end = Date.now() + 10_000; !queryAudit(gw.store, { event: 'policy-reload-failed' }).length && Date.now() < end;) await sleep(20);
  })();
  // four clients at a time, bounded in count
  let next = 0;
  await Promise.all([0, 1, 2, 3].map(async () => {
    while (next < N) {
      const i = next++;
      const info = await transport.sendMail({ from: 'ehr@clinic.example', to: `p${i}@example.org`, subject: `message ${i}`, text: 'The staff meeting moved to Tuesday.' });
      sent.push({ i, queueId: /queued as ([0-9A-Z]{20})/.exec(info.response)![1]! });
    }
  }));
  await edits;
  t.not(v2, v1, 'the good edit was picked up from the file change');
  t.true(badAt >= 60);
  const msgs = await sink.waitFor(N, 30_000);
  t.is(msgs.length, N, 'every accepted message arrived');

  const failed = queryAudit(gw.store, { event: 'policy-reload-failed' });
  t.is(failed.length, 1);
  t.is(failed[0]!.details['inForce'], v2);
  t.regex(String((failed[0]!.details['problems'] as string[])[0]), /10-tag\.yaml:4:7 unknown key "delivr"; did you mean "deliver"\?/);
  t.is(gw.policy().version, v2, 'the last good set stays in force');

  // each message carries the tag of the version its policy event names (written with the delivery's outcome,
  // which commits a few milliseconds after the sink has the message)
  for (let end = Date.now() + 10_000; sent.some((s) => !queryAudit(gw.store, { queueId: s.queueId, event: 'delivered' }).length) && Date.now() < end;) await sleep(20);
  const tagOf: Record<string, string> = { [v1]: '[v1]', [v2]: '[v2]' };
  const subjects = new Map(msgs.map((m) => [/^Subject: (.*)\r$/m.exec(m.bytes.toString())![1]!.replace(/^\[v\d\] /, ''), /^Subject: (\[v\d\])/m.exec(m.bytes.toString())?.[1]]));
  let v2Count = 0;
  for (const s of sent) {
    const ev = queryAudit(gw.store, { queueId: s.queueId, event: 'policy' })[0]!;
    const version = ev.details['policyVersion'] as string;
    t.truthy(tagOf[version], `message ${s.i} decided under a known version`);
    t.is(subjects.get(`message ${s.i}`), tagOf[version], `message ${s.i} left by the rule of its version`);
    if (version === v2) v2Count++;
  }
  t.true(v2Count >= N - 60, 'messages after the good edit use it, also after the bad edit');
});
