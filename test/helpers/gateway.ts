// Starts a gateway for a test: a temp directory with config, TLS files and data, either in this process
// (startGateway, with an injected resolver) or as a real child process (for kill -9 tests).
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
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

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(p));
    });
  });
}
