// Owns how far V8 lets a running gateway's heap grow between full garbage collections. A gateway's message
// bytes live outside the JS heap (Buffers), and V8 counts them against the same limit as the heap; under a
// steady load of 100 KB messages it settled on a limit of 1.2-1.3x the live heap and ran a full mark-compact
// about every 100 ms (17-33 per 1,000 messages), each marking the whole heap on V8's helper threads. A fixed
// growth to 3x the live heap (V8's own factor ranges up to 4x) left 4 per 1,000, and about 12% less CPU per
// 100 KB message. The cost: the heap grows to 3x its live size (about 100 MB) before a full collection.
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 200;

const FLAG = '--heap-growing-percent';
/** The flag as node accepts it on its command line: dashes or underscores, with or without "=N". */
const GIVEN = /^--heap[-_]growing[-_]percent(=|$)/;

/**
 * Sets V8's heap growing factor for this process, unless the operator gave node one
 * (`node --heap-growing-percent=N bin/phigate.js start`). V8 reads it each time it sets the next limit, after
 * every full collection, so it takes effect from the first one after this call. Returns the percent in force.
 */
export function tuneHeapGrowth(execArgv: readonly string[] = process.execArgv): number | null {
  const given = execArgv.find((a) => GIVEN.test(a));
  if (given) {
    const v = Number(given.split('=')[1]);
    return Number.isFinite(v) ? v : null;
  }
  setFlagsFromString(`${FLAG}=${HEAP_GROWING_PERCENT}`);
  return HEAP_GROWING_PERCENT;
}
