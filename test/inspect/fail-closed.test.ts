// A scan that cannot finish fails closed: the message is PHI with reason scan-failed, never "clean".
import test from 'ava';
import { scanMessage } from '../../src/inspect/scan.js';
import { loadDictionaries } from '../../src/inspect/dictionary.js';
import { ScanPool } from '../../src/inspect/pool.js';

const dictionaries = loadDictionaries();
const raw = Buffer.from('From: a@clinic.example\r\nTo: b@example.org\r\nSubject: Lunch\r\nMessage-ID: <f1@clinic.example>\r\n\r\nSee you at noon in the cafeteria.\r\n');

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

test('a worker that cannot answer in time gives scan-failed, and the pool goes on with a new worker', async (t) => {
  const pool = new ScanPool({ size: 1, timeoutMs: 1 });
  t.teardown(() => pool.close());
  const r = await pool.scan(Buffer.from(raw));
  t.true(r.phi);
  t.deepEqual(r.reasons.slice(0, 2), ['scan-failed', 'time budget exceeded']);
});
