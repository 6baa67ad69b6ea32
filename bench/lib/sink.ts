// Owns the Postfix smtp-sink that every relay delivers to: starting it on 127.0.0.1, parsing its running
// counter (`-c` prints "sess=N quit=N mesg=N" on every "."), and waiting until it has seen N messages.
import { performance } from 'node:perf_hooks';
import { LOOPBACK, freePort, waitForPort } from './net.js';
import { startTracked, sleep, type Tracked } from './proc.js';

const SMTP_SINK = '/usr/sbin/smtp-sink';

interface Watcher {
  target: number;
  resolve: (at: number) => void;
}

export class Sink {
  /** Messages ("." commands) received since the sink started. */
  count = 0;
  /** performance.now() of the last counter change. */
  lastChangeAt = performance.now();
  private pending = '';
  private watchers: Watcher[] = [];

  private constructor(readonly port: number, readonly proc: Tracked) {
    proc.child.stdout?.on('data', (chunk: Buffer) => this.onOutput(chunk.toString('latin1')));
  }

  static async start(): Promise<Sink> {
    const port = await freePort();
    // As root, smtp-sink insists on dropping privileges after binding (-u).
    const userArgs = process.getuid?.() === 0 ? ['-u', 'postfix'] : [];
    const proc = startTracked('smtp-sink', SMTP_SINK, ['-c', ...userArgs, '-m', '1000', `${LOOPBACK}:${port}`, '1000']);
    const sink = new Sink(port, proc);
    await waitForPort(port, 10_000, () => proc.child.exitCode === null).catch((err: Error) => {
      throw new Error(`smtp-sink did not start: ${err.message}\n${proc.tail()}`);
    });
    return sink;
  }

  private onOutput(text: string): void {
    const now = performance.now();
    const parts = (this.pending + text).split(/[\r\n]/);
    this.pending = parts.pop() ?? '';
    for (const line of parts) {
      const m = /mesg=(\d+)/.exec(line);
      if (m?.[1] !== undefined) this.update(Number(m[1]), now);
    }
  }

  private update(count: number, now: number): void {
    if (count === this.count) return;
    this.count = count;
    this.lastChangeAt = now;
    this.watchers = this.watchers.filter((w) => {
      if (count < w.target) return true;
      w.resolve(now);
      return false;
    });
  }

  /** Resolves with the time (performance.now()) at which the counter reached `target`. */
  reach(target: number): Promise<number> {
    if (this.count >= target) return Promise.resolve(this.lastChangeAt);
    return new Promise((resolve) => this.watchers.push({ target, resolve }));
  }

  /** Forgets pending reach() promises (they then never resolve). */
  dropWatchers(): void {
    this.watchers = [];
  }

  /** Waits until the counter has not moved for quietMs (late deliveries of an earlier run), at most maxMs. */
  async settle(quietMs: number, maxMs: number): Promise<boolean> {
    const deadline = performance.now() + maxMs;
    while (performance.now() < deadline) {
      if (performance.now() - this.lastChangeAt >= quietMs) return true;
      await sleep(50);
    }
    return false;
  }

  stop(): Promise<void> {
    return this.proc.stop(2_000);
  }
}
