// Owns when queued work runs: a timer-driven list of (queueId, due time), a bound on parallel work, and
// kicks for new messages. It knows nothing of SMTP; the pipeline hands it the function that does the work.

export interface SchedulerDeps {
  now: () => number;
  maxConcurrency: number;
  run: (queueId: string) => Promise<void>;
  onError: (queueId: string, err: unknown) => void;
}

/** A binary min-heap of (time, id); stale entries are skipped on pop (lazy deletion). */
class TimeHeap {
  private items: [number, string][] = [];
  get size(): number { return this.items.length; }
  peek(): [number, string] | undefined { return this.items[0]; }
  push(at: number, id: string): void {
    const a = this.items;
    a.push([at, id]);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]![0] <= a[i]![0]) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): [number, string] | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && a[l]![0] < a[m]![0]) m = l;
        if (r < a.length && a[r]![0] < a[m]![0]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

export class Scheduler {
  /** the one due time that counts per id; heap entries that disagree with it are stale */
  private due = new Map<string, number>();
  private heap = new TimeHeap();
  /** ids that came due while their previous run was still going: started when it ends */
  private waiting = new Set<string>();
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
    if (cur === undefined || at < cur) {
      this.due.set(queueId, at);
      this.heap.push(at, queueId);
    }
    this.pump();
  }

  cancel(queueId: string): void {
    this.due.delete(queueId);
    this.waiting.delete(queueId);
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
    while (this.running.size < this.deps.maxConcurrency) {
      const top = this.heap.peek();
      if (!top || top[0] > now) break;
      this.heap.pop();
      const [at, id] = top;
      if (this.due.get(id) !== at) continue; // stale
      if (this.running.has(id)) { this.waiting.add(id); continue; }
      this.due.delete(id);
      this.start(id);
    }
    // Only future work needs the timer: work already due but waiting for a free slot (or for its own earlier
    // run) starts when running work finishes. Arming for a past time here would spin while slots are busy.
    while (this.heap.size && this.due.get(this.heap.peek()![1]) !== this.heap.peek()![0]) this.heap.pop();
    const next = this.heap.peek();
    if (next && next[0] > now) this.arm(next[0]);
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
        if (this.waiting.delete(id)) {
          const at = this.due.get(id);
          if (at !== undefined) this.heap.push(at, id);
        }
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
