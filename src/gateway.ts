// Owns starting and stopping one whole gateway in this process: config, stores, pipeline, listeners, the
// periodic queue rescan, reload (users, DKIM keys, outbound settings) and graceful shutdown.
import { readFileSync, statSync } from 'node:fs';
import dns from 'node:dns';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { openStore, type Store } from './store.js';
import { createLogger, type Logger } from './log.js';
import { createPipeline, type Pipeline } from './pipeline.js';
import { startListeners, type RunningListeners } from './listener/server.js';
import { ensureServerCert } from './listener/self-signed.js';
import { loadUsers, type Users } from './listener/users.js';
import { Lockout } from './listener/lockout.js';
import { loadDkimKeys, type DkimKey } from './transform/dkim.js';
import { ScanPool } from './inspect/pool.js';
import { loadOrgDetectors, DETECTORS_FILE } from './inspect/org-detectors.js';
import { watch, type FSWatcher } from 'node:fs';
import { appendDurable } from './audit/append.js';
import { newQueueId } from './spool/ids.js';
import type { Resolver } from './deliver/route.js';
import { PhigateError, FileProblemsError } from './errors.js';
import { mkdirSync } from 'node:fs';

export interface GatewayOptions {
  configFile?: string;
  config?: Config;
  log?: Logger;
  resolver?: Resolver & { lookup(host: string): Promise<string[]> };
  now?: () => number;
  rescanMs?: number;
}

export interface Gateway {
  config: Config;
  store: Store;
  pipeline: Pipeline;
  listeners: RunningListeners;
  reload(): void;
  stop(): Promise<void>;
}

export const systemResolver: Resolver & { lookup(host: string): Promise<string[]> } = {
  resolveMx: (n) => dns.promises.resolveMx(n),
  resolve4: (n) => dns.promises.resolve4(n),
  resolve6: (n) => dns.promises.resolve6(n),
  lookup: async (h) => (await dns.promises.lookup(h, { all: true })).map((a) => a.address),
};

/** The users file, re-read when it changes (checked at each AUTH) and whenever `force` is set (SIGHUP). */
function usersCache(file: string, log: Logger): (force?: boolean) => Users {
  let cached: Users = new Map();
  let stamp = '';
  return (force = false) => {
    let s = 'missing';
    try { const st = statSync(file); s = `${st.ino}:${st.mtimeMs}:${st.size}`; } catch { /* no users yet */ }
    if (force || s !== stamp) {
      try {
        cached = loadUsers(file);
        stamp = s;
        log.info({ users: cached.size }, 'users loaded');
      } catch (e) {
        log.error({ err: (e as Error).message }, 'users file invalid; keeping the previous users');
      }
    }
    return cached;
  };
}

function checkTlsPair(key: Buffer, cert: Buffer, config: Config): void {
  try {
    const x = new X509Certificate(cert);
    if (!x.checkPrivateKey(createPrivateKey(key))) throw new Error('key does not match certificate');
  } catch (e) {
    throw new PhigateError('TLS_FILES', `${config.tls.cert} / ${config.tls.key}: ${(e as Error).message}`);
  }
}

export async function startGateway(opts: GatewayOptions = {}): Promise<Gateway> {
  let config = opts.config ?? loadConfig(opts.configFile);
  const log = opts.log ?? createLogger(config.logLevel);
  const now = opts.now ?? Date.now;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const tlsFiles = ensureServerCert(config.tls.cert, config.tls.key, config.hostname);
  if (tlsFiles.created) log.warn({ cert: config.tls.cert, key: config.tls.key }, 'no server certificate found: created a self-signed one; replace it with a certificate clients trust');
  checkTlsPair(tlsFiles.key, tlsFiles.cert, config);
  let dkimKeys: DkimKey[] = loadDkimKeys(config.dkim);
  let extraCa = config.outbound.caFile ? readFileSync(config.outbound.caFile, 'utf8') : null;
  mkdirSync(config.policies, { recursive: true });
  // inspect runs in worker threads so scanning never delays an SMTP reply
  const orgAtStart = loadOrgDetectors(config.policies);
  if (orgAtStart.problems.length) throw new FileProblemsError('CONFIG_INVALID', orgAtStart.problems);
  const scanPool = new ScanPool({ timeoutMs: config.inspect.timeBudgetMs, size: config.inspect.workers ?? undefined, org: orgAtStart.detectors });
  // the organisation's detectors reload with the policies: on SIGHUP and when the file changes
  const reloadDetectors = (why: string) => {
    const next = loadOrgDetectors(config.policies);
    if (next.problems.length) {
      for (const p of next.problems) log.error({ file: p.file, line: p.line, col: p.col, problem: p.message }, 'detectors file invalid; the previous detectors stay in force');
      return;
    }
    scanPool.reload(next.detectors);
    log.info({ detectors: next.detectors.detectors.length, why }, 'organisation detectors reloaded');
  };
  let watcher: FSWatcher | null = null;
  try {
    let debounce: NodeJS.Timeout | null = null;
    watcher = watch(config.policies, (_ev, name) => {
      if (name !== DETECTORS_FILE) return;
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(() => reloadDetectors('file changed'), 200);
      debounce.unref();
    });
    watcher.unref();
  } catch { /* no file watching here: SIGHUP still reloads */ }
  const store = openStore(config.dataDir);
  const users = usersCache(config.users, log);
  users();
  const lockout = new Lockout({ maxFailures: config.auth.maxFailures, windowMs: config.auth.windowMs, lockoutMs: config.auth.lockoutMs, now });
  const pipeline = createPipeline({
    config: () => config, store, log, now,
    resolver: opts.resolver ?? systemResolver,
    dkimKeys: () => dkimKeys,
    extraCa: () => extraCa,
    scan: (bytes) => scanPool.scan(bytes),
  });
  let listeners: RunningListeners;
  try {
    listeners = await startListeners({
      config, log, tls: { key: tlsFiles.key, cert: tlsFiles.cert }, users, lockout, now,
      newQueueId: () => newQueueId(now()),
      accept: (env, bytes) => pipeline.accept(env, bytes),
      audit: (e) => {
        // synced like every other audit event; the SMTP reply does not wait for it
        appendDurable(store, [{ event: e.event, sender: e.sender ?? null, recipient: e.recipient ?? null, details: e.details }])
          .catch((err: Error) => log.error({ err: err.message }, 'audit append failed'));
      },
    });
  } catch (e) {
    await pipeline.stop(0);
    watcher?.close();
    await scanPool.close();
    await store.close();
    throw e;
  }
  pipeline.rescan();
  const rescan = setInterval(() => pipeline.rescan(), opts.rescanMs ?? 5000);
  rescan.unref();
  await appendDurable(store, [{ event: 'admin', actor: 'system', details: { action: 'start', listeners: listeners.addresses, pid: process.pid } }]);
  log.info({ hostname: config.hostname, dataDir: config.dataDir, policies: config.policies }, 'phigate started');

  let stopped = false;
  return {
    config, store, pipeline, listeners,
    reload() {
      try {
        const next = opts.config ?? loadConfig(config.file);
        const keys = loadDkimKeys(next.dkim);
        extraCa = next.outbound.caFile ? readFileSync(next.outbound.caFile, 'utf8') : null;
        dkimKeys = keys;
        config = { ...config, outbound: next.outbound, dkim: next.dkim };
        users(true);
        reloadDetectors('SIGHUP');
        log.info({}, 'reloaded users, DKIM keys and outbound settings (listener changes and outbound.maxConcurrency need a restart)');
      } catch (e) {
        log.error({ err: (e as Error).message }, 'reload failed; the previous configuration stays in force');
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(rescan);
      // One bound for the whole shutdown: open transactions and running deliveries share shutdownTimeout.
      const bound = config.shutdownTimeoutMs;
      const deadline = Date.now() + bound;
      log.info({ timeoutMs: bound }, 'shutting down: no new connections, finishing transactions and deliveries');
      await listeners.close(bound);
      await pipeline.stop(Math.max(0, deadline - Date.now()));
      watcher?.close();
      await scanPool.close();
      try {
        await appendDurable(store, [{ event: 'admin', actor: 'system', details: { action: 'stop', pid: process.pid } }]);
      } catch { /* store may already be failing; nothing more to do */ }
      await store.close();
      log.info({}, 'stopped');
    },
  };
}
