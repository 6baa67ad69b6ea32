// Scan workers run below the listener's CPU priority: the thread that calls lowerThisThread, and only that
// thread, gets the nice value, as the kernel shows it; the real worker lowers itself when it starts.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { SCAN_NICE } from '../../src/inspect/thread-priority.js';

const MODULE = fileURLToPath(new URL('../../src/inspect/thread-priority.js', import.meta.url));
const SCAN_WORKER = fileURLToPath(new URL('../../src/inspect/worker.js', import.meta.url));

/** The nice value of a thread, from /proc (field 19 of stat). */
function niceOf(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

test('lowerThisThread lowers the calling thread only', async (t) => {
  const mine = niceOf('/proc/thread-self/stat');
  const code = `
    const { parentPort } = require('node:worker_threads');
    const fs = require('node:fs');
    import(${JSON.stringify(MODULE)}).then((m) => {
      const before = fs.readFileSync('/proc/thread-self/stat', 'utf8');
      const r = m.lowerThisThread(${SCAN_NICE});
      const after = fs.readFileSync('/proc/thread-self/stat', 'utf8');
      parentPort.postMessage({ r, before, after });
    });`;
  const w = new Worker(code, { eval: true });
  t.teardown(() => w.terminate());
  const m = await new Promise<{ r: number | null; before: string; after: string }>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  const nice = (stat: string) => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  t.is(m.r, SCAN_NICE);
  t.is(nice(m.before), mine, 'a new thread starts at its creator\'s priority');
  t.is(nice(m.after), SCAN_NICE);
  t.is(niceOf('/proc/thread-self/stat'), mine, 'the calling test thread is untouched');
});

test('the scan worker lowers itself when it starts, and says so when ready', async (t) => {
  const w = new Worker(SCAN_WORKER, { workerData: {} });
  t.teardown(() => w.terminate());
  const ready = await new Promise<{ ready?: boolean; nice?: number | null }>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  t.true(ready.ready);
  t.is(ready.nice, SCAN_NICE);
});
