// Scan workers run below the listener's CPU priority: the worker thread that calls lowerThisThread, and only
// that thread, gets the nice value, as the kernel shows it; it never raises a thread, never touches the main
// thread; the real worker lowers itself when it starts.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { lowerThisThread, SCAN_NICE } from '../../src/inspect/thread-priority.js';

const MODULE = fileURLToPath(new URL('../../src/inspect/thread-priority.js', import.meta.url));
const SCAN_WORKER = fileURLToPath(new URL('../../src/inspect/worker.js', import.meta.url));

/** The nice value in a thread's /proc stat (field 19). */
function niceIn(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}
const niceOfThisThread = () => niceIn(readFileSync('/proc/thread-self/stat', 'utf8'));

/** Runs lowerThisThread(target) in a new worker thread: what it returned and the thread's nice before and after. */
async function inWorker(target: number): Promise<{ r: number | null; before: number; after: number }> {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const fs = require('node:fs');
    import(${JSON.stringify(MODULE)}).then((m) => {
      const before = fs.readFileSync('/proc/thread-self/stat', 'utf8');
      const r = m.lowerThisThread(${target});
      const after = fs.readFileSync('/proc/thread-self/stat', 'utf8');
      parentPort.postMessage({ r, before, after });
    });`;
  const w = new Worker(code, { eval: true });
  try {
    const m = await new Promise<{ r: number | null; before: string; after: string }>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    return { r: m.r, before: niceIn(m.before), after: niceIn(m.after) };
  } finally {
    await w.terminate();
  }
}

test('lowerThisThread lowers the calling worker thread only', async (t) => {
  const mine = niceOfThisThread();
  const expected = Math.max(mine, SCAN_NICE);
  const m = await inWorker(SCAN_NICE);
  t.is(m.before, mine, 'a new thread starts at its creator\'s priority');
  t.is(m.r, expected);
  t.is(m.after, expected);
  t.is(niceOfThisThread(), mine, 'the calling test thread is untouched');
});

test('lowerThisThread never raises a thread, and leaves the main thread alone', async (t) => {
  const mine = niceOfThisThread();
  const m = await inWorker(mine - 1); // a value above the thread's current priority
  t.is(m.r, mine);
  t.is(m.after, mine);
  t.is(lowerThisThread(SCAN_NICE), null, 'called on the main thread');
  t.is(niceOfThisThread(), mine);
});

test('the scan worker lowers itself when it starts, and says so when ready', async (t) => {
  const w = new Worker(SCAN_WORKER, { workerData: {} });
  t.teardown(() => w.terminate());
  const ready = await new Promise<{ ready?: boolean; nice?: number | null }>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  t.true(ready.ready);
  t.is(ready.nice, Math.max(niceOfThisThread(), SCAN_NICE));
});
