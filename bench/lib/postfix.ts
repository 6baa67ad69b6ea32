// Owns the side-by-side Postfix: a private instance with its own config, queue and data directories under
// the benchmark's temp dir (never /etc/postfix, never the system instance), listening on 127.0.0.1 only
// and relaying everything to the smtp-sink. Otherwise Postfix defaults.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { LOOPBACK, freePort, waitForPort } from './net.js';
import { isRunning, killQuietly, mustRun, runCommand, sleep } from './proc.js';

const POSTFIX = '/usr/sbin/postfix';

export interface PostfixInstance {
  port: number;
  dir: string;
  version: string;
  stop: () => Promise<void>;
}

interface Layout {
  dir: string;
  conf: string;
  queue: string;
  data: string;
  log: string;
}

function layout(baseDir: string): Layout {
  const dir = join(baseDir, 'postfix');
  return { dir, conf: join(dir, 'conf'), queue: join(dir, 'queue'), data: join(dir, 'data'), log: join(dir, 'postfix.log') };
}

function mainCf(l: Layout, sinkPort: number): string {
  return `# Private benchmark instance: written by bench/lib/postfix.ts
compatibility_level = 3.6
config_directory = ${l.conf}
queue_directory = ${l.queue}
data_directory = ${l.data}
mail_owner = postfix
setgid_group = postdrop
multi_instance_name = postfix-bench
myhostname = postfix.bench.test
mydestination =
inet_interfaces = ${LOOPBACK}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [${LOOPBACK}]:${sinkPort}
smtp_tls_security_level = none
smtpd_tls_security_level = none
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file = ${l.log}
maillog_file_prefixes = ${l.dir}
`;
}

/** Debian's master.cf services without chroot, and smtpd only on 127.0.0.1:port. */
function masterCf(port: number): string {
  const rows = [
    `${LOOPBACK}:${port} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'tlsmgr unix - - n 1000? 1 tlsmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'proxywrite unix - - n - 1 proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return `# Private benchmark instance: written by bench/lib/postfix.ts\n${rows.join('\n')}\n`;
}

function masterPid(l: Layout): number | null {
  const file = join(l.queue, 'pid', 'master.pid');
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function logTail(l: Layout): string {
  return existsSync(l.log) ? readFileSync(l.log, 'utf8').split('\n').slice(-15).join('\n') : '(no postfix log)';
}

async function stopInstance(l: Layout): Promise<void> {
  const pid = masterPid(l);
  await runCommand(POSTFIX, ['-c', l.conf, 'stop']);
  if (pid === null) return;
  for (let i = 0; i < 100 && isRunning(pid); i++) await sleep(100);
  killQuietly(pid, 'SIGKILL');
}

function stopInstanceSync(l: Layout): void {
  const pid = masterPid(l);
  spawnSync(POSTFIX, ['-c', l.conf, 'stop'], { stdio: 'ignore', timeout: 8_000 });
  if (pid !== null) killQuietly(pid, 'SIGKILL');
}

function writeConfig(l: Layout, port: number, sinkPort: number): void {
  for (const d of [l.dir, l.conf, l.queue, l.data]) mkdirSync(d, { recursive: true, mode: 0o755 });
  writeFileSync(join(l.conf, 'main.cf'), mainCf(l, sinkPort));
  writeFileSync(join(l.conf, 'master.cf'), masterCf(port));
}

/** Starts the private Postfix relaying to 127.0.0.1:sinkPort. Needs root (Postfix's master does). */
export async function startPostfix(baseDir: string, sinkPort: number): Promise<PostfixInstance> {
  if (process.getuid?.() !== 0) throw new Error('a private Postfix instance needs root');
  // Postfix daemons run as the postfix user and must be able to reach their directories.
  chmodSync(baseDir, 0o755);
  const l = layout(baseDir);
  const port = await freePort();
  writeConfig(l, port, sinkPort);
  await mustRun('chown', ['postfix', l.data]);
  const unregister = onCleanup({ name: 'postfix', run: () => stopInstance(l), runSync: () => stopInstanceSync(l) });
  try {
    await mustRun(POSTFIX, ['-c', l.conf, 'check']);
    await mustRun(POSTFIX, ['-c', l.conf, 'start']);
    await waitForPort(port, 20_000);
  } catch (err) {
    throw new Error(`Postfix did not start: ${(err as Error).message}\n${logTail(l)}`);
  }
  const version = (await mustRun('/usr/sbin/postconf', ['-c', l.conf, '-h', 'mail_version'])).trim();
  return {
    port, dir: l.dir, version,
    stop: async () => {
      await stopInstance(l);
      unregister();
    },
  };
}
