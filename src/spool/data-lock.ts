// Owns the data directory's single owner: one running gateway per dataDir, like Postfix's master.lock. Two
// gateways on one spool would both deliver every message. The lock is a pid file holding the owner's pid, its
// start time (from /proc) and its host name, so a file left by a killed gateway, or a pid now used by another
// process, is recognised as stale and taken over; a file written on another host is never taken over (a shared
// volume): the admin removes it. The file appears whole or not at all (written aside, then hard-linked into
// place), and a stale one is moved aside before it is judged, so two gateways starting at once cannot both win.
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PhigateError } from '../errors.js';

export const LOCK_FILE = 'phigate.pid';

/** A running process's start time in clock ticks since boot (field 22 of /proc/PID/stat); null when gone or a zombie. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null; // exited, not yet reaped
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function alive(pid: number, started: string): boolean {
  if (started !== '?') return startTime(pid) === started;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface DataLock {
  release(): void;
}

function inUse(dataDir: string, why: string): PhigateError {
  return new PhigateError('DATA_DIR_IN_USE', `the data directory ${dataDir} is in use: ${why}`);
}

/** Why the lock file's owner still holds it, or null when the file is stale. */
function holder(content: string): string | null {
  const [pid, started, host] = content.trim().split(' ');
  if (!pid || !started) return null; // not a lock we wrote: nobody holds it
  if (host && host !== hostname()) return `${LOCK_FILE} was written by phigate pid ${pid} on host ${host}; if no gateway runs there any more, remove the file`;
  return alive(Number(pid), started) ? `a running phigate (pid ${pid}) holds it; stop it first, or give this one another dataDir` : null;
}

export function lockDataDir(dataDir: string): DataLock {
  const file = join(dataDir, LOCK_FILE);
  const mine = `${process.pid} ${startTime(process.pid) ?? '?'} ${hostname()}\n`;
  const aside = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  const fd = openSync(aside, 'wx', 0o600);
  try { writeSync(fd, mine); } finally { closeSync(fd); }
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(aside, file);
        return { release: () => { try { if (readFileSync(file, 'utf8') === mine) unlinkSync(file); } catch { /* gone */ } } };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw inUse(dataDir, `cannot create ${file}: ${(e as Error).message}`);
      }
      let seen = '';
      try { seen = readFileSync(file, 'utf8'); } catch { continue; /* removed meanwhile: try again */ }
      const why = holder(seen);
      if (why) throw inUse(dataDir, why);
      // stale: move it aside, and take over only if what was moved is what was judged
      const stale = `${file}.stale.${randomBytes(6).toString('hex')}`;
      try { renameSync(file, stale); } catch { continue; }
      const moved = readFileSync(stale, 'utf8');
      if (moved !== seen) {
        // another gateway's fresh lock was moved: put it back and let it win
        try { linkSync(stale, file); } catch { /* it re-created one */ }
        unlinkSync(stale);
        throw inUse(dataDir, holder(moved) ?? 'another gateway is starting on it');
      }
      unlinkSync(stale);
    }
    throw inUse(dataDir, `${file} keeps changing: another gateway is starting on it`);
  } finally {
    try { unlinkSync(aside); } catch { /* already gone */ }
  }
}
