// Owns load generation: runs Postfix's smtp-source against a loopback port with a given message size,
// number of parallel sessions, total message count, and either a new connection per message or reuse (-d).
import { performance } from 'node:perf_hooks';
import { LOOPBACK } from './net.js';
import { startTracked, type Tracked } from './proc.js';

const SMTP_SOURCE = '/usr/sbin/smtp-source';
export const SENDER = 'sender@bench.test';
export const RECIPIENT = 'rcpt@example.net';

export type Mode = 'new' | 'reuse';

export interface Load {
  sizeBytes: number;
  concurrency: number;
  mode: Mode;
  count: number;
}

export interface SourceRun {
  proc: Tracked;
  /** Resolves when smtp-source exits: its exit code and the time it exited (performance.now()). */
  done: Promise<{ code: number | string; at: number }>;
}

export function sourceArgs(load: Load, port: number): string[] {
  return [
    ...(load.mode === 'reuse' ? ['-d'] : []),
    '-s', String(load.concurrency),
    '-m', String(load.count),
    '-l', String(load.sizeBytes),
    '-M', 'client.bench.test',
    '-f', SENDER,
    '-t', RECIPIENT,
    `${LOOPBACK}:${port}`,
  ];
}

export function startSource(load: Load, port: number): SourceRun {
  const proc = startTracked('smtp-source', SMTP_SOURCE, sourceArgs(load, port));
  const done = proc.exited.then((code) => ({ code, at: performance.now() }));
  return { proc, done };
}
