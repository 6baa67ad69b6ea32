// The heap growth the start command sets: V8's own trace shows the factor it then uses after a full collection,
// and a factor the operator gave node wins.
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HEAP_GROWING_PERCENT, tuneHeapGrowth } from '../../src/cli/heap-growth.js';

const MODULE = fileURLToPath(new URL('../../src/cli/heap-growth.js', import.meta.url));

/** Runs tuneHeapGrowth in a fresh node with `flags`, then two full collections; the factors V8 reports after it. */
function factorsAfterTuning(flags: string[]): Promise<{ returned: string; factors: number[] }> {
  const script = `import(${JSON.stringify(MODULE)}).then((m) => {
    const r = m.tuneHeapGrowth();
    console.log('TUNED ' + r);
    const keep = []; for (let i = 0; i < 200000; i++) keep.push({ i });
    globalThis.gc(); globalThis.gc();
    console.log('DONE ' + keep.length);
  });`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', '--trace-gc-verbose', ...flags, '--input-type=module', '-e', script], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(err);
      const after = stdout.slice(stdout.indexOf('TUNED '));
      const returned = /TUNED (\S+)/.exec(after)?.[1] ?? '';
      const factors = [...after.matchAll(/\[HeapController\] Limit: old size: \d+ KB, new limit: \d+ KB \(([\d.]+)\)/g)].map((m) => Number(m[1]));
      resolve({ returned, factors });
    });
  });
}

test('after tuneHeapGrowth, V8 sets each next heap limit at 3x the live heap', async (t) => {
  const { returned, factors } = await factorsAfterTuning([]);
  t.is(returned, String(HEAP_GROWING_PERCENT));
  t.true(factors.length >= 2, `V8 reported ${factors.length} limits`);
  for (const f of factors) t.is(f, 1 + HEAP_GROWING_PERCENT / 100);
});

test('a --heap-growing-percent given to node stays in force', async (t) => {
  const { returned, factors } = await factorsAfterTuning(['--heap-growing-percent=50']);
  t.is(returned, '50');
  t.true(factors.length >= 2);
  for (const f of factors) t.is(f, 1.5);
});

test('the operator\'s flag is recognised in either spelling, and an unreadable value is reported as unknown', (t) => {
  t.is(tuneHeapGrowth(['--heap-growing-percent=80']), 80);
  t.is(tuneHeapGrowth(['--inspect', '--heap_growing_percent=120']), 120);
  t.is(tuneHeapGrowth(['--heap-growing-percent']), null);
});
