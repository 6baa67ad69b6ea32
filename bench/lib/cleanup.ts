// Owns cleanup for the benchmark: every process it starts and every temp dir it makes is registered here,
// and is stopped (by PID) or removed on normal exit, on error and on SIGINT/SIGTERM/SIGHUP.

export interface CleanupTask {
  name: string;
  /** Graceful, awaited cleanup (e.g. SIGTERM, wait, then SIGKILL). */
  run: () => Promise<void>;
  /** Last-resort synchronous cleanup, used from the process 'exit' handler. */
  runSync: () => void;
}

const tasks: CleanupTask[] = [];
let running: Promise<void> | null = null;

/** Registers a task; returns a function that unregisters it (call it once the resource is gone). */
export function onCleanup(task: CleanupTask): () => void {
  tasks.push(task);
  return () => {
    const i = tasks.indexOf(task);
    if (i >= 0) tasks.splice(i, 1);
  };
}

/** Runs every registered task, newest first. Safe to call more than once. */
export function cleanupAll(): Promise<void> {
  running ??= (async () => {
    while (tasks.length > 0) {
      const task = tasks.pop()!;
      const started = Date.now();
      try {
        await task.run();
        const ms = Date.now() - started;
        if (ms > 1_000) process.stderr.write(`stopping ${task.name} took ${(ms / 1000).toFixed(1)} s\n`);
      } catch (err) {
        process.stderr.write(`cleanup of ${task.name} failed: ${String(err)}\n`);
        safeSync(task);
      }
    }
  })();
  return running;
}

function safeSync(task: CleanupTask): void {
  try {
    task.runSync();
  } catch {
    // Nothing more can be done while exiting.
  }
}

/** Signals and a synchronous 'exit' fallback, so nothing outlives the benchmark. */
export function installCleanupHandlers(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping everything the benchmark started...\n`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
  process.once('exit', () => {
    while (tasks.length > 0) safeSync(tasks.pop()!);
  });
}
