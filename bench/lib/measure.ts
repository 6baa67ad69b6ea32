// Owns one measured run: smtp-source sends N messages into a relay (or straight into the sink) and the
// clock runs from the first send until the sink has counted all N, or until the time limit.
import { performance } from 'node:perf_hooks';
import type { Sink } from './sink.js';
import { withTimeout } from './proc.js';
import { startSource, type Load } from './source.js';

export interface RunResult {
  count: number;
  received: number;
  /** Seconds from starting smtp-source to the sink's Nth message (or to the time limit). */
  seconds: number;
  /** End-to-end messages per second (received / seconds). */
  rate: number;
  complete: boolean;
  /** Seconds until smtp-source had handed over everything (the relay's accept rate), if it finished. */
  sourceSeconds: number | null;
  error?: string;
}

type Outcome =
  | { kind: 'complete'; at: number }
  | { kind: 'timeout' }
  | { kind: 'source-failed'; code: number | string }
  | { kind: 'target-died' };

export const RELAY_EXITED = 'the relay under test or smtp-sink exited';
const NEVER = new Promise<never>(() => undefined);
const IDLE_AFTER_FAILURE_MS = 2_000;

function timer(ms: number): { done: Promise<Outcome>; cancel: () => void } {
  let handle: NodeJS.Timeout | undefined;
  const done = new Promise<Outcome>((resolve) => {
    handle = setTimeout(() => resolve({ kind: 'timeout' }), Math.max(0, ms));
  });
  return { done, cancel: () => clearTimeout(handle) };
}

/**
 * Runs `load` against 127.0.0.1:port and waits for the sink. `targetExited` (optional) resolves if the
 * relay under test (or the sink) dies, which ends the run at once.
 */
export async function measure(sink: Sink, port: number, load: Load, timeoutMs: number, targetExited?: Promise<unknown>): Promise<RunResult> {
  await sink.settle(500, timeoutMs);
  const base = sink.count;
  const t0 = performance.now();
  const source = startSource(load, port);
  const limit = timer(timeoutMs);
  const reached = sink.reach(base + load.count).then((at): Outcome => ({ kind: 'complete', at }));
  const failed = source.done.then((r): Promise<Outcome> | Outcome => (r.code === 0 ? NEVER : { kind: 'source-failed', code: r.code }));
  const died = (targetExited ?? NEVER).then((): Outcome => ({ kind: 'target-died' }));
  let outcome = await Promise.race([reached, failed, died, limit.done]);
  if (outcome.kind === 'source-failed') {
    // Whatever the relay accepted before the failure may still be on its way to the sink.
    const idle = sink.settle(IDLE_AFTER_FAILURE_MS, timeoutMs).then((): Outcome => ({ kind: 'source-failed', code: 0 }));
    const code = outcome.code;
    outcome = await Promise.race([reached, idle, died, limit.done]);
    if (outcome.kind === 'source-failed') outcome = { kind: 'source-failed', code };
  }
  limit.cancel();
  sink.dropWatchers();
  return finish(outcome, sink.count - base, sink.lastChangeAt, load, t0, timeoutMs, source);
}

async function finish(
  outcome: Outcome, received: number, lastChangeAt: number, load: Load, t0: number, timeoutMs: number,
  source: ReturnType<typeof startSource>,
): Promise<RunResult> {
  // After a complete run smtp-source only has QUITs left; give it a moment, then stop it.
  const exit = await withTimeout(source.done, outcome.kind === 'complete' ? 10_000 : 0, null);
  if (exit === null) await source.proc.stop(2_000);
  const sourceSeconds = exit !== null && exit.code === 0 ? (exit.at - t0) / 1000 : null;
  const got = Math.min(received, load.count);
  if (outcome.kind === 'complete') {
    const seconds = (outcome.at - t0) / 1000;
    return { count: load.count, received: load.count, seconds, rate: load.count / seconds, complete: true, sourceSeconds };
  }
  // A failed run is timed to its last delivery, a timed-out one to the limit.
  const seconds = outcome.kind === 'timeout' ? timeoutMs / 1000
    : outcome.kind === 'source-failed' && got > 0 ? Math.max(lastChangeAt - t0, 1) / 1000
    : (performance.now() - t0) / 1000;
  const error = outcome.kind === 'source-failed'
    ? `smtp-source exited with ${outcome.code}: ${lastLine(source.proc.tail())}`
    : outcome.kind === 'target-died' ? RELAY_EXITED : undefined;
  return { count: load.count, received: got, seconds, rate: got / seconds, complete: false, sourceSeconds, ...(error ? { error } : {}) };
}

function lastLine(text: string): string {
  return text.trim().split('\n').slice(-1)[0] ?? '';
}
