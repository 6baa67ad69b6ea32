// A delivered message's outcome is committed in the next batch (up to 100 ms later). A queue scan in that window
// still sees the entry as pending: its next run must wait for the outcome to land and then find nothing to do,
// instead of sending the message a second time.
import test from 'ava';
import { startSink } from '../helpers/sink.js';
import { auditUntil, gatewayWith, relay, sleep } from './util.js';
import { queryAudit } from '../../src/audit/query.js';

test('a queue scan right after a delivery does not send the message again', async (t) => {
  const sink = await startSink();
  t.teardown(() => sink.close());
  const gw = await gatewayWith(t, { routes: { 'a.example': `127.0.0.1:${sink.port}` }, tls: { '*': 'none' } });
  const q = await relay(t, gw, { from: 'ehr@clinic.example', to: ['p@a.example'], body: 'once' });
  await sink.waitFor(1);
  // the outcome is still waiting for its batch: the queue entry on disk says pending
  const pendingOnDisk = gw.store.queue.get(q) !== undefined;
  for (let i = 0; i < 10; i++) {
    gw.pipeline.rescan();
    await sleep(10);
  }
  await auditUntil(gw, q, (e) => e.some((x) => x.event === 'delivered'));
  await sleep(300);
  t.true(pendingOnDisk, 'the scan ran while the outcome was not committed yet (the case under test)');
  t.is(sink.messages.length, 1, 'delivered once');
  t.is(queryAudit(gw.store, { queueId: q, event: 'delivered' }).length, 1);
  t.is(gw.store.queue.get(q), undefined, 'finished and removed');
});
