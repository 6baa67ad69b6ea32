// Starts a gateway for a test: a temp directory with config, TLS files and data, either in this process
// (startGateway, with an injected resolver) or as a real child process (for kill -9 tests).
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { stringify } from 'yaml';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { selfSignedPem } from '../../src/listener/self-signed.js';
import type { Resolver } from '../../src/deliver/route.js';

export const ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const CLI = join(ROOT, 'bin', 'phigate.js');

export interface GatewayDir { dir: string; configFile: string; config: Record<string, any> }

let cachedPair: { key: string; cert: string } | null = null;

/** Writes a config for a test; `patch` overrides top-level keys. Ports 0 = ephemeral (in-process only). */
export function makeGatewayDir(patch: Record<string, any> = {}, ports: { submission?: number; smtps?: number; relay?: number } = {}): GatewayDir {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-gw-'));
  cachedPair ??= selfSignedPem('gw.phigate.test');
  mkdirSync(join(dir, 'certs'));
  writeFileSync(join(dir, 'certs', 'server.key'), cachedPair.key, { mode: 0o600 });
  writeFileSync(join(dir, 'certs', 'server.crt'), cachedPair.cert);
  const config: Record<string, any> = {
    hostname: 'gw.phigate.test',
    dataDir: join(dir, 'data'),
    listen: {
      submission: { host: '127.0.0.1', port: ports.submission ?? 0 },
      smtps: { host: '127.0.0.1', port: ports.smtps ?? 0 },
      relay: { host: '127.0.0.1', port: ports.relay ?? 0, trustedNetworks: ['127.0.0.0/8', '::1/128'] },
    },
    tls: { cert: join(dir, 'certs', 'server.crt'), key: join(dir, 'certs', 'server.key') },
    users: join(dir, 'users.yaml'),
    outbound: { routes: { '*': 'mx' }, tls: { '*': 'verify' }, caFile: null, retry: { schedule: ['1s'], maxAge: '1h' } },
    dkim: [],
    policies: join(dir, 'policies'),
    portal: { masterKey: join(dir, 'certs', 'master.key') },
    log: { level: 'silent' },
    shutdownTimeout: '3s',
    ...patch,
  };
  const configFile = join(dir, 'phigate.yaml');
  writeFileSync(configFile, stringify(config));
  return { dir, configFile, config };
}

export const noDns: Resolver & { lookup(h: string): Promise<string[]> } = {
  resolveMx: async (n) => { throw Object.assign(new Error(`no DNS in tests: ${n}`), { code: 'ENOTFOUND' }); },
  resolve4: async () => [],
  resolve6: async () => [],
  lookup: async (h) => (h === 'localhost' ? ['127.0.0.1'] : Promise.reject(Object.assign(new Error(`no DNS: ${h}`), { code: 'ENOTFOUND' }))),
};

export async function startTestGateway(d: GatewayDir, resolver = noDns, rescanMs = 500): Promise<Gateway> {
  return startGateway({ configFile: d.configFile, log: silentLogger, resolver, rescanMs });
}

export function runCli(args: string[], input?: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', rej);
    p.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
    p.stdin.end(input ?? '');
  });
}

export function spawnGateway(configFile: string): ChildProcess {
  return spawn(process.execPath, [CLI, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`port ${port} not open after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Ports handed out by freePort: below the kernel's ephemeral range, where outbound connections (of every test
// running at once) take their local ports, and reserved across the test processes by a file each, so a port
// is not given twice in the time between freePort and the bind of whoever asked for it.
const PORT_DIR = join(tmpdir(), 'phigate-test-ports');
const PORT_RESERVATION_MS = 30 * 60_000;
const reserved: string[] = [];
process.once('exit', () => { for (const f of reserved) rmSync(f, { force: true }); });

function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

/** Takes port `port` for this process unless another test process holds it (a reservation older than 30 min is stale). */
function reserve(port: number): boolean {
  const file = join(PORT_DIR, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch {
    try {
      if (Date.now() - statSync(file).mtimeMs < PORT_RESERVATION_MS) return false;
      writeFileSync(file, String(process.pid));
    } catch {
      return false;
    }
  }
  reserved.push(file);
  return true;
}

function canListen(port: number): Promise<boolean> {
  return import('node:net').then(({ createServer }) => new Promise<boolean>((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  }));
}

/** A port on 127.0.0.1 that nothing listens on, for a listener the test starts itself. */
export async function freePort(): Promise<number> {
  mkdirSync(PORT_DIR, { recursive: true });
  const high = Math.min(ephemeralLow(), 65536);
  const low = Math.max(1024, high - 12_000);
  for (let tries = 0; tries < 500; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (reserve(port) && (await canListen(port))) return port;
  }
  throw new Error(`no free port found in ${low}-${high - 1}`);
}
