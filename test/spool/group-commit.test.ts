// The group committer on a real LMDB store: writes of one turn share a commit, in both ways of committing (on this
// thread when one client is connected, through lmdb's writer thread when more are); a write that throws is rolled
// back alone and its caller gets the error; lazy writes ride in the next group or commit on their own; batched writes
// (delivery outcomes) never ride with durable ones and commit together when their window ends or the batch is full.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store.js';
import { GroupCommitter, type CommitWindows } from '../../src/spool/group-commit.js';
import { ROOT } from '../helpers/gateway.js';

const windows = (w: Partial<CommitWindows> = {}): CommitWindows => ({ lazyMs: 5, batchMs: 100, maxBatch: 64, ...w });

function fresh(): { store: Store; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-group-'));
  return { store: openStore(dir), dir };
}

for (const [mode, clients] of [['one client: on this thread', 1], ['many clients: lmdb writer thread', 50]] as const) {
  test(`${mode}: a throwing write is rolled back alone; the others of its group commit`, async (t) => {
    const { store } = fresh();
    const c = new GroupCommitter(store, windows(), () => clients);
    const results = await Promise.allSettled([
      c.durable(() => { store.meta.put('a', 1); return 'a'; }),
      c.durable(() => { store.meta.put('b', 2); throw new Error('boom'); }),
      c.durable(() => { store.meta.put('c', 3); return 'c'; }),
    ]);
    t.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    t.is((results[0] as PromiseFulfilledResult<string>).value, 'a');
    t.is(((results[1] as PromiseRejectedResult).reason as Error).message, 'boom');
    t.is(store.meta.get('a'), 1);
    t.is(store.meta.get('b'), undefined, 'the throwing write left nothing behind');
    t.is(store.meta.get('c'), 3);
    await store.close();
  });

  test(`${mode}: a lone write that throws writes nothing and rejects`, async (t) => {
    const { store } = fresh();
    const c = new GroupCommitter(store, windows(), () => clients);
    await t.throwsAsync(c.durable(() => { store.meta.put('x', 1); store.meta.put('y', 2); throw new Error('half way'); }), { message: 'half way' });
    t.is(store.meta.get('x'), undefined);
    t.is(store.meta.get('y'), undefined);
    await store.close();
  });
}

test('a durable write is committed when it resolves: another process reads it', async (t) => {
  const { store, dir } = fresh();
  const c = new GroupCommitter(store, windows(), () => 1);
  await c.durable(() => store.meta.put('k', { v: 42 }));
  const lmdb = join(ROOT, 'node_modules', 'lmdb', 'index.js');
  const read = execFileSync(process.execPath, ['--input-type=module', '-e', `
    import { open } from ${JSON.stringify(lmdb)};
    const env = open({ path: ${JSON.stringify(join(dir, 'phigate.lmdb'))}, maxDbs: 16, readOnly: true });
    process.stdout.write(JSON.stringify(env.openDB({ name: 'meta', encoding: 'json' }).get('k')));
    await env.close();`], { encoding: 'utf8' });
  t.deepEqual(JSON.parse(read), { v: 42 });
  await store.close();
});

test('a lazy write rides in the next durable group, and commits on its own when none comes', async (t) => {
  const { store } = fresh();
  const c = new GroupCommitter(store, windows({ lazyMs: 200 }), () => 1);
  let lazyDone = false;
  const lazy = c.lazy(() => store.meta.put('outcome', 'delivered')).then(() => { lazyDone = true; });
  await c.durable(() => store.meta.put('accepted', true));
  t.is(store.meta.get('outcome'), 'delivered', 'committed with the durable group');
  t.true(lazyDone, 'resolved with that group, not after its own 200 ms window');
  await lazy;

  const started = Date.now();
  await c.lazy(() => store.meta.put('alone', 1));
  t.true(Date.now() - started >= 150, 'alone, it waited for its window');
  t.is(store.meta.get('alone'), 1);
  await store.close();
});

test('flush commits what waits at once (shutdown)', async (t) => {
  const { store } = fresh();
  const c = new GroupCommitter(store, windows({ lazyMs: 60_000, batchMs: 60_000 }), () => 1);
  const lazy = c.lazy(() => store.meta.put('late', 1));
  const batched = c.batched(() => store.meta.put('outcome', 1));
  await c.flush();
  await Promise.all([lazy, batched]);
  t.is(store.meta.get('late'), 1);
  t.is(store.meta.get('outcome'), 1);
  await store.close();
});

test('a batched write does not ride with a durable group: it waits for its window, with the others of its batch', async (t) => {
  const { store } = fresh();
  const c = new GroupCommitter(store, windows({ batchMs: 5_000 }), () => 1); // longer than any fsync under load (2 s was not, once, with the whole suite running)
  const started = Date.now();
  const landed: number[] = [];
  const first = c.batched(() => store.meta.put('o1', 1)).then(() => landed.push(Date.now() - started));
  await c.durable(() => store.meta.put('accepted', 1));
  t.is(store.meta.get('o1'), undefined, 'the acceptance committed alone');
  const second = c.batched(() => store.meta.put('o2', 2)).then(() => landed.push(Date.now() - started));
  await Promise.all([first, second]);
  t.is(store.meta.get('o1'), 1);
  t.is(store.meta.get('o2'), 2);
  t.true(landed.every((ms) => ms >= 4_900), `both waited for the first one's window (${landed.join(', ')} ms)`);
  t.true(Math.abs(landed[0]! - landed[1]!) < 50, 'and landed in one commit');
  await store.close();
});

test('a full batch commits at once, in the order the writes were asked for', async (t) => {
  const { store } = fresh();
  const c = new GroupCommitter(store, windows({ batchMs: 60_000, maxBatch: 3 }), () => 1);
  const order: number[] = [];
  const started = Date.now();
  await Promise.all([1, 2, 3].map((i) => c.batched(() => { order.push(i); store.meta.put(`b${i}`, i); })));
  t.true(Date.now() - started < 5_000, 'no waiting for the 60 s window');
  t.deepEqual(order, [1, 2, 3]);
  t.is(store.meta.get('b3'), 3);
  await store.close();
});

test('a lazy write asked for after a batched one still rides with the next durable group', async (t) => {
  const { store } = fresh();
  const c = new GroupCommitter(store, windows({ lazyMs: 60_000, batchMs: 60_000 }), () => 1);
  const batched = c.batched(() => store.meta.put('outcome', 1));
  const lazy = c.lazy(() => store.meta.put('decision', 1));
  await c.durable(() => store.meta.put('copy', 1));
  await lazy;
  t.is(store.meta.get('decision'), 1, 'the decision landed with (before) the durable write');
  t.is(store.meta.get('outcome'), undefined, 'the outcome still waits for its batch');
  await c.flush();
  await batched;
  t.is(store.meta.get('outcome'), 1);
  await store.close();
});

test('groups never mix durable and batched writes, even when a batch is due while acceptances keep arriving', async (t) => {
  const { store } = fresh();
  // each top-level transaction is one group: record which writes ran in it
  const groups: string[][] = [];
  let depth = 0;
  const env = store.env as unknown as Record<string, (...a: any[]) => any>;
  const sync = env['transactionSync']!.bind(store.env);
  const async = env['transaction']!.bind(store.env);
  env['transactionSync'] = (fn: () => unknown, flags?: number) => {
    if (depth === 0) groups.push([]);
    depth++;
    try { return sync(fn, flags); } finally { depth--; }
  };
  env['transaction'] = (fn: () => unknown) => async(() => {
    groups.push([]);
    depth++;
    try { return fn(); } finally { depth--; }
  });
  const mark = (name: string) => () => { groups[groups.length - 1]!.push(name); store.meta.put(name, 1); };
  for (const clients of [1, 50]) {
    groups.length = 0;
    const c = new GroupCommitter(store, windows({ batchMs: 30 }), () => clients);
    const outcomes = [1, 2, 3].map((i) => c.batched(mark(`o${i}-${clients}`)));
    // acceptances one after another across the batch's window
    for (let i = 0; i < 12; i++) {
      await c.durable(mark(`a${i}-${clients}`));
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(outcomes);
    const mixed = groups.filter((g) => g.some((n) => n.startsWith('a')) && g.some((n) => n.startsWith('o')));
    t.deepEqual(mixed, [], `${clients} client(s): ${JSON.stringify(groups)}`);
    t.true(groups.some((g) => g.length === 3 && g.every((n) => n.startsWith('o'))), 'the three outcomes landed in one group of their own');
  }
  await store.close();
});

test('after close, writes are refused and nothing waits', async (t) => {
  const { store } = fresh();
  const c = new GroupCommitter(store, windows({ batchMs: 60_000 }), () => 1);
  const waiting = c.batched(() => store.meta.put('last', 1));
  await c.close();
  await waiting;
  t.is(store.meta.get('last'), 1, 'what waited was committed by close');
  await t.throwsAsync(c.batched(() => store.meta.put('late', 1)), { message: /shutting down/ });
  await t.throwsAsync(c.durable(() => store.meta.put('late', 1)), { message: /shutting down/ });
  t.is(store.meta.get('late'), undefined);
  await store.close();
});
