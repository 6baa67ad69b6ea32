// Owns the data directory's single owner: one running gateway per dataDir, like Postfix's master.lock. Two
// gateways on one spool would both deliver every message. The lock is a pid file holding the owner's pid and
// its start time (from /proc), so a file left by a killed gateway, or a pid reused by another process, is
// recognised as stale and taken over.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PhigateError } from '../errors.js';

export const LOCK_FILE = 'phigate.pid';

/** A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or null when it is not running. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export interface DataLock {
  release(): void;
}

export function lockDataDir(dataDir: string): DataLock {
  const file = join(dataDir, LOCK_FILE);
  const mine = `${process.pid} ${startTime(process.pid) ?? '?'}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try { writeSync(fd, mine); } finally { closeSync(fd); }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        throw new PhigateError('DATA_DIR_IN_USE', `cannot lock the data directory ${dataDir} (${file}): ${(e as Error).message}`, { cause: e });
      }
      let owner = '';
      try { owner = readFileSync(file, 'utf8'); } catch { /* gone meanwhile: try again */ }
      const [pid, started] = owner.trim().split(' ');
      if (pid && started && started !== '?' && startTime(Number(pid)) === started) {
        throw new PhigateError('DATA_DIR_IN_USE', `the data directory ${dataDir} is in use by a running phigate (pid ${pid}); stop it first, or give this one another dataDir`);
      }
      try { unlinkSync(file); } catch { /* someone else removed it */ } // stale: its owner is gone
    }
  }
  return {
    release() {
      try {
        if (readFileSync(file, 'utf8') === mine) unlinkSync(file);
      } catch { /* already gone */ }
    },
  };
}
