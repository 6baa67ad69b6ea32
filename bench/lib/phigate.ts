// Owns the gateway under test: writing a throw-away config (relay listener on 127.0.0.1, every route to
// the smtp-sink), a self-signed certificate, starting `node bin/phigate.js start` as a child process,
// sampling its memory from /proc/PID/status, and stopping it by PID.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOOPBACK, freePort, waitForPort } from './net.js';
import { mustRun, startTracked, type Tracked } from './proc.js';

export interface Gateway {
  port: number;
  pid: number;
  proc: Tracked;
  /** Peak resident set size in bytes seen so far (VmHWM, and sampled VmRSS). */
  peakRss: () => number | null;
  stop: () => Promise<void>;
}

export function gatewayMissing(repoRoot: string): string | null {
  const main = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  return existsSync(main) ? null : `gateway not built (${main} missing)`;
}

function configYaml(dir: string, port: number, sinkPort: number): string {
  return `# Benchmark configuration: written by bench/lib/phigate.ts
hostname: bench.phigate.test
dataDir: ${dir}/data
listen:
  submission: null
  smtps: null
  relay: { host: ${LOOPBACK}, port: ${port}, trustedNetworks: ["127.0.0.0/8"], maxConnectionsPerIp: 200 }
tls: { cert: ${dir}/server.crt, key: ${dir}/server.key }
users: ${dir}/users.yaml
outbound:
  routes: { "*": "${LOOPBACK}:${sinkPort}" }
  tls: { "*": may }
  caFile: null
  retry: { schedule: [1m], maxAge: 1h }
  maxConcurrency: 50
  maxPerHost: 20
dkim: []
policies: ${dir}/policies
portal: { masterKey: ${dir}/master.key }
limits: { maxConnections: 1000, maxMessageSize: 10MB }
log: { level: warn }
`;
}

async function writeFiles(dir: string, port: number, sinkPort: number, policies?: (dir: string) => void): Promise<string> {
  mkdirSync(join(dir, 'policies'), { recursive: true, mode: 0o700 });
  policies?.(join(dir, 'policies'));
  mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'users.yaml'), 'users: {}\n', { mode: 0o600 });
  await mustRun('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=bench.phigate.test', '-days', '2',
    '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.crt'),
  ]);
  const file = join(dir, 'phigate.yaml');
  writeFileSync(file, configYaml(dir, port, sinkPort), { mode: 0o600 });
  return file;
}

/** Reads a "VmXXX:   1234 kB" field of /proc/PID/status, in bytes. */
export function procStatusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] !== undefined ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function memorySampler(pid: number): { peak: () => number | null; stop: () => void } {
  let peak: number | null = null;
  const sample = (): void => {
    for (const field of ['VmHWM', 'VmRSS'] as const) {
      const v = procStatusBytes(pid, field);
      if (v !== null && (peak === null || v > peak)) peak = v;
    }
  };
  const timer = setInterval(sample, 500);
  timer.unref();
  return { peak: () => (sample(), peak), stop: () => clearInterval(timer) };
}

/** Starts the gateway from repoRoot with a fresh config in dir, relaying to 127.0.0.1:sinkPort; `policies` writes its policies folder (empty by default). */
export async function startGateway(repoRoot: string, dir: string, sinkPort: number, policies?: (dir: string) => void): Promise<Gateway> {
  const port = await freePort();
  const config = await writeFiles(dir, port, sinkPort, policies);
  const proc = startTracked('phigate', process.execPath, [join(repoRoot, 'bin', 'phigate.js'), 'start', '--config', config], {
    cwd: repoRoot,
  });
  const memory = memorySampler(proc.pid);
  try {
    await waitForPort(port, 60_000, () => proc.child.exitCode === null && proc.child.signalCode === null);
  } catch (err) {
    memory.stop();
    await proc.stop(2_000);
    throw new Error(`phigate did not start: ${(err as Error).message}\n${proc.tail().trim()}`);
  }
  return {
    port, proc, pid: proc.pid,
    peakRss: memory.peak,
    stop: async () => {
      memory.stop();
      await proc.stop(10_000);
    },
  };
}
