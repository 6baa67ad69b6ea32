// Owns the gateway's commits to the store (group commit). Writes that arrive while no commit is running are run
// together in one LMDB write transaction and share its fsync; a durable write resolves only once that commit is
// on disk. Each write runs in a child transaction of its own, so one that throws is rolled back alone and never
// left half-done, and the others still commit.
// Two ways to commit, picked by load:
// - quiet (at most one SMTP client connected, one durable write waiting): a synchronous transaction on this
//   thread. It blocks the event loop for the fsync but answers soonest: lmdb's asynchronous transactions hand the
//   commit to a writer thread and back twice, which at one client costs more than the fsync itself.
// - otherwise (more clients, or no durable write in the group): lmdb's asynchronous transaction, whose writer
//   thread does the fsync while this thread keeps serving the other clients; writes that arrive meanwhile form the
//   next, larger group. (Measured: with 50 clients, synchronous commits kept this thread half its time in fsync.)
// Three kinds of write:
// - durable (an accepted message): the next group; resolves once synced, so the 250 can be sent.
// - lazy (an after-queue policy decision): rides in the next group of either kind, or commits within `lazyMs`;
//   `within` is a lazy write with a window of the caller's (a journaled acceptance, already synced in the
//   journal: its 250 does not wait for this commit at all).
// - batched (a delivery's outcome): committed with other outcomes, in a group of their own, within `batchMs` or
//   once `maxBatch` wait. Outcomes never ride with acceptances, so the synced commit a client waits for stays
//   small, and one fsync covers many deliveries (Postfix does not sync a delivered message's removal at all).
//   A crash before they land means those deliveries are made again (at least once), never a lost message.
// Writes commit in the order they were asked for, except that durable and lazy writes go ahead of batched ones
// (a group never mixes durable and batched writes); the writes of one message are asked for in order and keep it.
import type { Store } from '../store.js';

type Kind = 'durable' | 'lazy' | 'batched';

export const COMMITTER_CLOSED = 'the gateway is shutting down: nothing more is written';
interface Job { kind: Kind; due: number; writes: () => unknown; resolve: (value: unknown) => void; reject: (e: unknown) => void }

export interface CommitWindows {
  /** how long a lazy write waits for a group to ride in */
  lazyMs: number;
  /** how long a batched write waits for others */
  batchMs: number;
  /** batched writes that make a group at once */
  maxBatch: number;
}

export class GroupCommitter {
  private waiting: Job[] = [];
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private running: Promise<void> | null = null;
  private closed = false;

  /** `clients`: SMTP clients connected now. */
  constructor(private readonly store: Store, private readonly windows: CommitWindows, private readonly clients: () => number) {}

  /** Runs `writes` in the next group commit; resolves with its result once that commit is synced to disk. */
  durable<T>(writes: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => this.ask('durable', 0, writes, resolve as (v: unknown) => void, reject));
  }

  /** Runs `writes` in the next group commit, or within `lazyMs`; resolves once committed (the sync may still be running). */
  lazy(writes: () => void): Promise<void> {
    return this.within(this.windows.lazyMs, writes);
  }

  /** Runs `writes` in the next group commit, or within `waitMs`; resolves once committed (the sync may still be running). */
  within<T>(waitMs: number, writes: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => this.ask('lazy', waitMs, writes, resolve as (v: unknown) => void, reject));
  }

  /** Runs `writes` in a group of batched writes within `batchMs`; resolves once committed (the sync may still be running). */
  batched(writes: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => this.ask('batched', this.windows.batchMs, writes, () => resolve(), reject));
  }

  private ask(kind: Kind, waitMs: number, writes: () => unknown, resolve: (value: unknown) => void, reject: (e: unknown) => void): void {
    if (this.closed) return reject(new Error(COMMITTER_CLOSED));
    this.waiting.push({ kind, due: Date.now() + waitMs, writes, resolve, reject });
    this.plan();
  }

  private batchedWaiting(): number {
    let n = 0;
    for (const j of this.waiting) if (j.kind === 'batched') n++;
    return n;
  }

  /** Arms the next commit: at the next turn for durable writes or a full batch, else at the earliest window's end. */
  private plan(): void {
    if (!this.waiting.length) return;
    if (this.waiting.some((j) => j.kind === 'durable') || this.batchedWaiting() >= this.windows.maxBatch) {
      this.immediate ??= setImmediate(() => { this.immediate = null; void this.commitDue(); });
      return;
    }
    const at = Math.min(...this.waiting.map((j) => j.due));
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => { this.timer = null; this.timerAt = Infinity; void this.commitDue(); }, Math.max(0, at - Date.now()));
  }

  /**
   * Commits what is due now, in groups that never mix durable and batched writes: a batch whose window ended (or
   * that is full) first, with the lazy writes, so a steady stream of acceptances cannot hold it back; else the
   * durable writes with the lazy ones; else the lazy ones. What is left is planned again.
   */
  private async commitDue(): Promise<void> {
    while (this.running) await this.running;
    if (this.closed) return;
    const now = Date.now();
    const batchReady = this.batchedWaiting() >= this.windows.maxBatch || this.waiting.some((j) => j.kind === 'batched' && j.due <= now);
    if (batchReady) return this.run((j) => j.kind !== 'durable');
    if (this.waiting.some((j) => j.kind === 'durable')) return this.run((j) => j.kind !== 'batched');
    return this.run((j) => j.kind === 'lazy');
  }

  /** Commits everything waiting now; resolves when it is on disk. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    await this.run(() => true);
  }

  /** Shutdown: commits what waits, then refuses new writes (the store is about to close). */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.immediate) { clearImmediate(this.immediate); this.immediate = null; }
    for (const j of this.waiting.splice(0)) j.reject(new Error(COMMITTER_CLOSED));
  }

  private async run(take: (j: Job) => boolean): Promise<void> {
    const jobs = this.waiting.filter(take);
    this.waiting = this.waiting.filter((j) => !take(j));
    if (this.timer) { clearTimeout(this.timer); this.timer = null; this.timerAt = Infinity; }
    this.plan();
    if (!jobs.length) return;
    const durable = jobs.filter((j) => j.kind === 'durable').length;
    // one commit at a time: what arrives meanwhile is the next group
    const run = this.commit(jobs, durable === 1 && this.clients() <= 1, durable > 0);
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
