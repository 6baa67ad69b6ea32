// A scan that cannot finish fails closed: the message is PHI with reason scan-failed, never "clean".
import test from 'ava';
import { scanMessage } from '../../src/inspect/scan.js';
import { loadDictionaries } from '../../src/inspect/dictionary.js';
import { ScanPool, SCANNER_STOPPED } from '../../src/inspect/pool.js';

const dictionaries = loadDictionaries();
const raw = Buffer.from('From: a@clinic.example\r\nTo: b@example.org\r\nSubject: Lunch\r\nMessage-ID: <f1@clinic.example>\r\n\r\nSee you at noon in the cafeteria.\r\n');
// over the pool's inline limit (16 KB), so it is always scanned in a worker
const big = Buffer.from(`${raw.toString('latin1')}${'The staff meeting moved to Tuesday, room 4. '.repeat(2000)}\r\n`, 'latin1');

test('past the text budget the verdict is PHI with reason scan-failed', async (t) => {
  const ok = await scanMessage(raw, { dictionaries });
  t.false(ok.phi, 'the same message scans clean within budget');
  const r = await scanMessage(raw, { dictionaries, maxTextChars: 5 });
  t.true(r.phi);
  t.is(r.reasons[0], 'scan-failed');
  t.regex(r.reasons[1] ?? '', /text budget/);
});

test('past the time budget the verdict is PHI with reason scan-failed', async (t) => {
  const r = await scanMessage(raw, { dictionaries, timeBudgetMs: 0 });
  t.true(r.phi);
  t.deepEqual(r.reasons.slice(0, 2), ['scan-failed', 'time budget exceeded']);
});

test('the worker pool answers scans and fails closed once stopped', async (t) => {
  const pool = new ScanPool({ size: 1, timeoutMs: 30_000 });
  const r = await pool.scan(Buffer.from(raw));
  t.false(r.phi);
  await pool.close();
  const after = await pool.scan(Buffer.from(raw));
  t.true(after.phi);
  t.is(after.reasons[0], 'scan-failed');
});

test('background scans wait for an idle worker: they never queue inside one, where their time budget would run', async (t) => {
  const pool = new ScanPool({ size: 2, timeoutMs: 30_000 });
  t.teardown(() => pool.close());
  const all = Promise.all(Array.from({ length: 40 }, () => pool.scan(Buffer.from(big), { background: true })));
  let done = false;
  void all.then(() => { done = true; });
  let most = 0, waited = 0;
  while (!done) {
    const l = pool.load();
    most = Math.max(most, ...l.inWorkers);
    waited = Math.max(waited, l.waiting);
    await new Promise((r) => setImmediate(r));
  }
  const results = await all;
  t.is(most, 1, 'at most one scan in a worker at a time');
  t.true(waited >= 30, `the others waited in the pool (${waited})`);
  t.false(results.some((r) => r.phi || r.reasons[0] === 'scan-failed'));
  t.is(pool.load().waiting, 0, 'nothing is left waiting');
});

test('closing the pool answers waiting background scans as stopped (the pipeline then keeps nothing)', async (t) => {
  const pool = new ScanPool({ size: 1, timeoutMs: 30_000 });
  const pending = Array.from({ length: 5 }, () => pool.scan(Buffer.from(big), { background: true }));
  await pool.close();
  const results = await Promise.all(pending);
  t.true(results.some((r) => r.reasons[1] === SCANNER_STOPPED));
  for (const r of results) if (r.reasons[0] === 'scan-failed') t.is(r.reasons[1], SCANNER_STOPPED);
});

test('a worker that cannot answer in time gives scan-failed, and the pool goes on with a new worker', async (t) => {
  const pool = new ScanPool({ size: 1, timeoutMs: 1 });
  t.teardown(() => pool.close());
  const r = await pool.scan(Buffer.from(raw));
  t.true(r.phi);
  t.deepEqual(r.reasons.slice(0, 2), ['scan-failed', 'time budget exceeded']);
});

test('in the gateway, a scan past inspect.timeBudget is audited as PHI with reason scan-failed', async (t) => {
  const { makeGatewayDir, startTestGateway } = await import('../helpers/gateway.js');
  const { swaks } = await import('../helpers/swaks.js');
  const { queryAudit } = await import('../../src/audit/query.js');
  const d = makeGatewayDir({
    inspect: { timeBudget: '1ms', workers: 1 },
    outbound: { routes: { '*': '127.0.0.1:9' }, tls: { '*': 'none' }, caFile: null, retry: { schedule: ['1h'], maxAge: '2h' } },
  });
  const gw = await startTestGateway(d);
  t.teardown(() => gw.stop());
  const r = await swaks(['--server', '127.0.0.1', '--port', String(gw.listeners.addresses['relay']!.port), '--from', 'a@clinic.example', '--to', 'b@example.org', '--h-Message-Id', '<budget@clinic.example>', '--body', 'See you at noon.']);
  t.is(r.code, 0, r.out);
  let e;
  for (let i = 0; i < 100 && !e; i++) {
    e = queryAudit(gw.store, { messageId: 'budget@clinic.example', event: 'scanned' })[0];
    if (!e) await new Promise((res) => setTimeout(res, 100));
  }
  t.truthy(e, 'a scanned event was written');
  t.is(e!.details['phi'], true);
  t.deepEqual((e!.details['reasons'] as string[]).slice(0, 2), ['scan-failed', 'time budget exceeded']);
});

test('a small plain-text message is scanned in the caller\'s thread, a background scan too; a larger one goes to a worker', async (t) => {
  const pool = new ScanPool({ size: 1, timeoutMs: 30_000 });
  t.teardown(() => pool.close());
  let seen = 0;
  const all = [pool.scan(Buffer.from(raw), { background: true }), pool.scan(Buffer.from(raw))];
  seen = Math.max(seen, ...pool.load().inWorkers);
  t.is(seen, 0, 'nothing was handed to a worker');
  for (const r of await Promise.all(all)) t.false(r.phi);
  const inWorker = pool.scan(Buffer.from(big), { background: true });
  t.is(pool.load().inWorkers[0], 1, 'the large one is in the worker');
  t.false((await inWorker).phi);
});
