// Owns child processes: spawning them tracked for cleanup, stopping them by PID (SIGTERM, then SIGKILL),
// keeping the tail of their output for error messages, and one-shot commands with captured output.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { onCleanup } from './cleanup.js';

export interface Tracked {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code (or signal name) when the process has exited. */
  exited: Promise<number | string>;
  /** Last lines of stdout and stderr, for diagnostics. */
  tail: () => string;
  /** SIGTERM, wait up to graceMs, then SIGKILL; resolves once the process is gone. */
  stop: (graceMs?: number) => Promise<void>;
}

const TAIL_CHARS = 4000;

export function startTracked(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Tracked {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  let tailText = '';
  const keep = (chunk: Buffer): void => {
    tailText = (tailText + chunk.toString('utf8')).slice(-TAIL_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (err) => resolve(`spawn error: ${err.message}`));
  });
  const unregister = onCleanup({
    name,
    run: () => stopPid(pid, exited, 10_000),
    runSync: () => killQuietly(pid, 'SIGKILL'),
  });
  void exited.then(unregister);
  return {
    name, child, pid, exited,
    tail: () => tailText,
    stop: (graceMs = 10_000) => stopPid(pid, exited, graceMs),
  };
}

async function stopPid(pid: number, exited: Promise<unknown>, graceMs: number): Promise<void> {
  if (!isRunning(pid)) return;
  killQuietly(pid, 'SIGTERM');
  const gone = await withTimeout(exited.then(() => true), graceMs, false);
  if (!gone) {
    killQuietly(pid, 'SIGKILL');
    await withTimeout(exited, 2_000, null);
  }
}

/** Resolves with the promise's value, or with `fallback` after ms; the timer never outlives the race. */
export async function withTimeout<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let handle: NodeJS.Timeout | undefined;
  const timeout = new Promise<F>((resolve) => {
    handle = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(handle);
  }
}

export function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface CommandResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs a short command to completion (tracked, so Ctrl-C stops it too). */
export async function runCommand(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<CommandResult> {
  const t = startTracked(cmd, cmd, args, opts);
  let stdout = '';
  let stderr = '';
  t.child.stdout?.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
  t.child.stderr?.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
  const code = await t.exited;
  return { code, stdout, stderr };
}

/** Like runCommand but throws with the command's output when it does not exit 0. */
export async function mustRun(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<string> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}
