// Owns the gateway's commits to the store (group commit). Writes that arrive while no commit is running are run
// together in one LMDB write transaction and share its fsync; a durable write resolves only once that commit is
// on disk. Each write runs in a child transaction of its own, so one that throws is rolled back alone and never
// left half-done, and the others still commit.
// Two ways to commit, picked by load:
// - quiet (at most one SMTP client connected, one durable write waiting): a synchronous transaction on this
//   thread. It blocks the event loop for the fsync but answers soonest: lmdb's asynchronous transactions hand the
//   commit to a writer thread and back twice, which at one client costs more than the fsync itself.
// - otherwise (more clients, or only delivery outcomes): lmdb's asynchronous transaction, whose writer thread does
//   the fsync while this thread keeps serving the other clients; writes that arrive meanwhile form the next, larger
//   group. (Measured: with 50 clients, synchronous commits kept this thread half its time in fsync.)
// Writes that need not be synced at once (a delivery's outcome) wait up to `lazyMs` for the next group, so at low
// concurrency a message costs one synced commit, not two; a crash before they land means a delivery is made
// again (at least once), never a lost message.
import type { Store } from '../store.js';

interface Job { writes: () => unknown; resolve: (value: unknown) => void; reject: (e: unknown) => void }

export class GroupCommitter {
  private durableJobs: Job[] = [];
  private lazyJobs: Job[] = [];
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  /** `clients`: SMTP clients connected now. */
  constructor(private readonly store: Store, private readonly lazyMs: number, private readonly clients: () => number) {}

  /** Runs `writes` in the next group commit; resolves with its result once that commit is synced to disk. */
  durable<T>(writes: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.durableJobs.push({ writes, resolve: resolve as (v: unknown) => void, reject });
      this.immediate ??= setImmediate(() => void this.flush());
    });
  }

  /** Runs `writes` in a group commit within `lazyMs`; resolves once committed (the sync may still be running). */
  lazy(writes: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.lazyJobs.push({ writes, resolve: () => resolve(), reject });
      this.timer ??= setTimeout(() => void this.flush(), this.lazyMs);
    });
  }

  /** Commits everything waiting now (the timers, and shutdown); resolves when it is on disk. */
  async flush(): Promise<void> {
    if (this.immediate) { clearImmediate(this.immediate); this.immediate = null; }
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    // one commit at a time: what arrives meanwhile is the next group
    while (this.running) await this.running;
    const jobs = [...this.lazyJobs, ...this.durableJobs]; // earlier deliveries' outcomes first: the audit keeps order
    const durable = this.durableJobs.length;
    const quiet = durable === 1 && this.clients() <= 1;
    this.lazyJobs = [];
    this.durableJobs = [];
    if (!jobs.length) return;
    const run = this.commit(jobs, quiet, durable > 0);
    this.running = run;
    try {
      await run;
    } finally {
      this.running = null;
    }
  }

  private async commit(jobs: Job[], quiet: boolean, waitForSync: boolean): Promise<void> {
    const settled: Settled[] = [];
    const writeAll = (): void => { for (const j of jobs) settled.push(this.inChild(j)); };
    try {
      if (quiet) this.store.env.transactionSync(writeAll);
      else await this.store.env.transaction(writeAll);
      // after a synchronous commit this waits only if an asynchronous lmdb batch was open (ours joined it)
      if (waitForSync) await this.store.durable();
    } catch (e) {
      for (const j of jobs) j.reject(e);
      return;
    }
    settled.forEach((s, i) => (s.ok ? jobs[i]!.resolve(s.value) : jobs[i]!.reject(s.error)));
  }

  /** One job in a child transaction of the group's: if it throws, its writes are rolled back and the error is its own. */
  private inChild(j: Job): Settled {
    try {
      let value: unknown;
      this.store.env.transactionSync(() => { value = j.writes(); });
      return { ok: true, value };
    } catch (error) {
      return { ok: false, error };
    }
  }
}

type Settled = { ok: boolean; value?: unknown; error?: unknown };
