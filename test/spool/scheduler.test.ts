// The queue scheduler: due order, the concurrency bound, earlier requests winning, one run per id at a time,
// and stop() waiting for running work (within its bound).
import test from 'ava';
import { Scheduler, type SchedulerDeps } from '../../src/spool/scheduler.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

function make(o: Partial<SchedulerDeps> & { run: SchedulerDeps['run'] }): { s: Scheduler; errors: [string, unknown][] } {
  const errors: [string, unknown][] = [];
  const s = new Scheduler({ now: Date.now, maxConcurrency: 1, onError: (id, e) => errors.push([id, e]), ...o });
  return { s, errors };
}

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

test('due work runs earliest due first', async (t) => {
  const order: string[] = [];
  const gate = deferred();
  const { s } = make({ run: async (id) => { order.push(id); if (id === 'blocker') await gate.promise; } });
  const now = Date.now();
  s.schedule('blocker', now);
  s.schedule('c', now - 10);
  s.schedule('a', now - 30);
  s.schedule('d', now - 5);
  s.schedule('b', now - 20);
  t.deepEqual(order, ['blocker']);
  t.is(s.pending, 4);
  gate.resolve();
  await until(() => order.length === 5);
  t.deepEqual(order, ['blocker', 'a', 'b', 'c', 'd']);
});

test('future work waits for its time', async (t) => {
  const ran: [string, number][] = [];
  const { s } = make({ maxConcurrency: 5, run: async (id) => { ran.push([id, Date.now()]); } });
  const t0 = Date.now();
  s.schedule('later', t0 + 150);
  s.schedule('now', t0);
  await until(() => ran.length === 2);
  t.deepEqual(ran.map((r) => r[0]), ['now', 'later']);
  t.true(ran[1]![1] - t0 >= 140, `ran after ${ran[1]![1] - t0} ms`);
});

test('no more than maxConcurrency runs at once, and all work runs', async (t) => {
  let live = 0;
  let peak = 0;
  const done: string[] = [];
  const { s } = make({
    maxConcurrency: 3,
    run: async (id) => { live++; peak = Math.max(peak, live); await sleep(15); live--; done.push(id); },
  });
  for (let i = 0; i < 12; i++) s.schedule(`m${i}`, Date.now());
  t.is(s.inFlight, 3);
  await until(() => done.length === 12);
  t.is(peak, 3);
  t.is(s.inFlight, 0);
  t.is(s.pending, 0);
});

test('an earlier schedule wins over a later one, in either order of asking', async (t) => {
  const ran = new Map<string, number>();
  const { s } = make({ maxConcurrency: 5, run: async (id) => { ran.set(id, Date.now()); } });
  const t0 = Date.now();
  s.schedule('x', t0 + 5000);
  s.schedule('x', t0 + 30);
  s.schedule('y', t0 + 30);
  s.schedule('y', t0 + 5000);
  await until(() => ran.size === 2, 2000);
  t.true(ran.get('x')! - t0 < 1000);
  t.true(ran.get('y')! - t0 < 1000);
  t.is(s.pending, 0, 'the later request was not kept as a second run');
});

test('one id never runs twice at once; a request while it runs runs it again afterwards', async (t) => {
  let live = 0;
  let peak = 0;
  let runs = 0;
  const gate = deferred();
  const { s } = make({
    maxConcurrency: 4,
    run: async () => { runs++; live++; peak = Math.max(peak, live); if (runs === 1) await gate.promise; live--; },
  });
  s.schedule('q', Date.now());
  await until(() => runs === 1);
  s.schedule('q', Date.now());
  s.schedule('q', Date.now());
  await sleep(30);
  t.is(runs, 1, 'not started again while running');
  gate.resolve();
  await until(() => runs === 2);
  await sleep(30);
  t.is(runs, 2, 'the requests made while it ran collapse into one more run');
  t.is(peak, 1);
});

test('a failed run is reported to onError and does not stop the scheduler', async (t) => {
  const ok: string[] = [];
  const { s, errors } = make({ maxConcurrency: 2, run: async (id) => { if (id === 'bad') throw new Error('boom'); ok.push(id); } });
  s.schedule('bad', Date.now());
  s.schedule('good', Date.now());
  await until(() => ok.length === 1 && errors.length === 1);
  t.is(errors[0]![0], 'bad');
  t.is((errors[0]![1] as Error).message, 'boom');
  s.schedule('good2', Date.now());
  await until(() => ok.length === 2);
  t.deepEqual(ok, ['good', 'good2']);
});

test('a saturated scheduler does not spin while due work waits for a free slot', async (t) => {
  // While every slot is busy, due work is started by the completion of running work; there is nothing for a
  // timer to do. A timer re-armed for a time already past would fire every millisecond for as long as the
  // work runs (a hot loop that burns a core while deliveries are slow).
  let nowCalls = 0;
  const gate = deferred();
  const { s } = make({ maxConcurrency: 1, now: () => { nowCalls++; return Date.now(); }, run: async (id) => { if (id === 'slow') await gate.promise; } });
  s.schedule('slow', Date.now());
  s.schedule('waiting', Date.now());
  const before = nowCalls;
  await sleep(200);
  const during = nowCalls - before;
  gate.resolve();
  await until(() => s.pending === 0 && s.inFlight === 0);
  t.true(during < 10, `the scheduler woke ${during} times in 200 ms with nothing it could start`);
});

test('stop waits for running work to finish, and starts nothing new', async (t) => {
  const started: string[] = [];
  let finished = false;
  const { s } = make({ maxConcurrency: 1, run: async (id) => { started.push(id); if (id === 'a') { await sleep(150); finished = true; } } });
  s.schedule('a', Date.now());
  s.schedule('b', Date.now());
  const t0 = Date.now();
  await s.stop(5000);
  t.true(finished, 'running work finished before stop resolved');
  t.true(Date.now() - t0 >= 100);
  s.schedule('c', Date.now());
  await sleep(50);
  t.deepEqual(started, ['a'], 'queued and new work did not start after stop');
});

test('stop gives up waiting after its timeout', async (t) => {
  const gate = deferred();
  const { s } = make({ run: () => gate.promise });
  s.schedule('hung', Date.now());
  const t0 = Date.now();
  await s.stop(100);
  const took = Date.now() - t0;
  t.true(took >= 90 && took < 1000, `stop took ${took} ms`);
  t.is(s.inFlight, 1);
  gate.resolve();
});

test('stop with nothing running resolves at once and cancels timers', async (t) => {
  let ran = 0;
  const { s } = make({ run: async () => { ran++; } });
  s.schedule('later', Date.now() + 50);
  const t0 = Date.now();
  await s.stop(5000);
  t.true(Date.now() - t0 < 50);
  await sleep(100);
  t.is(ran, 0);
});
