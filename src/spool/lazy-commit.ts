// Owns commits that need not be synced at once (a delivery's outcome): they wait a few milliseconds and ride
// along in the next commit, preferably the next message's durable acceptance, so at low concurrency each message
// costs one synced commit instead of two and an acceptance never queues behind a delivery's sync. A crash before
// they land means a delivery is made again (at least once), never a lost message.
import type { Store } from '../store.js';
import { commit } from './spool.js';

interface Waiting { writes: () => void; resolve: () => void; reject: (e: unknown) => void }

export class LazyCommitter {
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly store: Store, private readonly delayMs: number) {}

  /** Resolves once `writes` are committed (not necessarily synced). */
  add(writes: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ writes, resolve, reject });
      this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
    });
  }

  /** Takes everything waiting, to run inside the caller's transaction; `settle` reports that commit's result. */
  take(): { writes: () => void; settle: (err?: unknown) => void } | null {
    if (!this.waiting.length) return null;
    const batch = this.waiting;
    this.waiting = [];
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    return {
      writes: () => { for (const w of batch) w.writes(); },
      settle: (err) => { for (const w of batch) (err === undefined ? w.resolve() : w.reject(err)); },
    };
  }

  /** Commits whatever is waiting now (the timer, and shutdown). */
  async flush(): Promise<void> {
    this.timer = null;
    const t = this.take();
    if (!t) return;
    try {
      await commit(this.store, t.writes, { durable: false });
      t.settle();
    } catch (e) {
      t.settle(e);
    }
  }
}
