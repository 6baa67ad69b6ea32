// Owns when queued work runs: a timer-driven list of (queueId, due time), a bound on parallel work, and
// kicks for new messages. It knows nothing of SMTP; the pipeline hands it the function that does the work.

export interface SchedulerDeps {
  now: () => number;
  maxConcurrency: number;
  run: (queueId: string) => Promise<void>;
  onError: (queueId: string, err: unknown) => void;
}

export class Scheduler {
  private due = new Map<string, number>();
  private running = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: SchedulerDeps) {}

  /** Asks for `queueId` to run at `at` (ms). An earlier request wins. */
  schedule(queueId: string, at: number): void {
    if (this.stopped) return;
    const cur = this.due.get(queueId);
    if (cur === undefined || at < cur) this.due.set(queueId, at);
    this.pump();
  }

  cancel(queueId: string): void {
    this.due.delete(queueId);
  }

  get inFlight(): number {
    return this.running.size;
  }

  get pending(): number {
    return this.due.size;
  }

  private pump(): void {
    if (this.stopped) return;
    const now = this.deps.now();
    let next = Infinity;
    if (this.running.size < this.deps.maxConcurrency) {
      const ready = [...this.due].filter(([id, at]) => at <= now && !this.running.has(id)).sort((a, b) => a[1] - b[1]);
      for (const [id] of ready) {
        if (this.running.size >= this.deps.maxConcurrency) break;
        this.due.delete(id);
        this.start(id);
      }
    }
    // Only future work needs the timer: work already due but waiting for a free slot (or for its own earlier
    // run) starts when running work finishes. Arming for a past time here would spin while slots are busy.
    for (const [id, at] of this.due) if (!this.running.has(id) && at > now && at < next) next = at;
    this.arm(next);
  }

  private arm(at: number): void {
    if (at === Infinity) return;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => { this.timer = null; this.timerAt = Infinity; this.pump(); }, Math.max(0, Math.min(at - this.deps.now(), 2 ** 31 - 1)));
    this.timer.unref();
  }

  private start(id: string): void {
    this.running.add(id);
    this.deps.run(id)
      .catch((e) => this.deps.onError(id, e))
      .finally(() => {
        this.running.delete(id);
        if (this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w();
        this.pump();
      });
  }

  /** Stops starting new work; resolves when running work has finished or after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.running.size === 0) return;
    await Promise.race([
      new Promise<void>((res) => this.idleWaiters.push(res)),
      new Promise<void>((res) => setTimeout(res, timeoutMs).unref()),
    ]);
  }
}
