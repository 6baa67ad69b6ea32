// Runs the real `phigate` CLI (bin/phigate.js) like runCli, but at most two at a time per test process: a
// test file that starts a dozen Node processes at once on a two-core machine spends its time thrashing.
import { runCli } from './gateway.js';

const MAX = 2;
let running = 0;
const queue: (() => void)[] = [];

export async function cli(args: string[], input?: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  if (running >= MAX) await new Promise<void>((r) => queue.push(r));
  running++;
  try {
    return await runCli(args, input, env);
  } finally {
    running--;
    queue.shift()?.();
  }
}
