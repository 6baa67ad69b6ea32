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

/**
 * Runs the CLI's main() in this process with stdout and stderr captured: the same code as the binary minus
 * process start-up (~0.3 s each), for tests that check many variants. Use `cli` for exit status and stack checks.
 */
let inProcessLock: Promise<unknown> = Promise.resolve();

export function cliInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // one at a time: each swaps process.stdout.write, so two interleaved runs would capture each other's output
  const run = inProcessLock.then(() => runInProcess(args));
  inProcessLock = run.catch(() => undefined);
  return run;
}

async function runInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = await import('../../src/cli/main.js');
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((s: string | Uint8Array) => { stdout += s.toString(); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => { stderr += s.toString(); return true; }) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'phigate', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
