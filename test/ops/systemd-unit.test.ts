// The shipped systemd unit lets the gateway make the system calls it makes: its seccomp filter denies whole
// groups, and a call of a denied group that phigate needs is allowed back after the denial (a denied call
// kills the process with SIGSYS).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const UNIT = fileURLToPath(new URL('../../../systemd/phigate.service', import.meta.url));

/** The syscall set the unit's SystemCallFilter= lines leave allowed, for the names asked about. */
function allowed(unit: string, groups: Record<string, string[]>, call: string): boolean {
  const lines = unit.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('SystemCallFilter='));
  let ok = false;
  lines.forEach((line, i) => {
    const value = line.slice('SystemCallFilter='.length);
    const deny = value.startsWith('~');
    const names = value.replace(/^~/, '').split(/\s+/).filter(Boolean);
    const covers = names.some((n) => n === call || (groups[n] ?? []).includes(call));
    if (i === 0 && deny) ok = true; // a deny list first: everything else is allowed
    if (covers) ok = !deny;
  });
  return ok;
}

test('setpriority (the scan workers lower their own priority) is allowed back after @resources is denied', (t) => {
  const unit = readFileSync(UNIT, 'utf8');
  // systemd's groups, the parts that matter here (systemd-analyze syscall-filter @resources)
  const groups = { '@system-service': ['setpriority', 'read', 'write'], '@resources': ['setpriority', 'setrlimit', 'sched_setaffinity'] };
  t.true(/SystemCallFilter=~[^\n]*@resources/.test(unit), 'the unit denies @resources');
  t.true(allowed(unit, groups, 'setpriority'));
  t.false(allowed(unit, groups, 'setrlimit'), 'the rest of @resources stays denied');
  t.regex(unit, /^LimitNOFILE=(\d+)$/m, 'soft and hard open-file limits equal, so node does not call setrlimit at start');
});
