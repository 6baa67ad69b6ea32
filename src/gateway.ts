// Owns starting and stopping one whole gateway in this process: config, stores, pipeline, listeners, the
// periodic queue rescan, reload (users, DKIM keys, outbound settings, policies and detectors) and graceful shutdown.
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
import { ensureMasterKey, keyringCache } from './master-key.js';
import { loadUsers, type Users } from './listener/users.js';
import { Lockout } from './listener/lockout.js';
import { lockDataDir, type DataLock } from './spool/data-lock.js';
import { loadDkimKeys, type DkimKey } from './transform/dkim.js';
import { ScanPool } from './inspect/pool.js';
import { loadOrgDetectors, type OrgDetectors } from './inspect/org-detectors.js';
import { loadPolicySet } from './policy/load.js';
import type { PolicySet } from './policy/rule-set.js';
import { ENTITY_TYPES } from './envelope.js';
import { watch, type FSWatcher } from 'node:fs';
import { appendDurable } from './audit/append.js';
import { newQueueId } from './spool/ids.js';
import type { Resolver } from './deliver/route.js';
import { PhigateError, FileProblemsError } from './errors.js';
import { pgpKeyFor, smimeCertFor, wkdKeyFor } from './transform/keystore.js';
import { wkdLookup, httpsWkdGetter, type WkdGet } from './transform/wkd.js';
import type { KeyLookup } from './transform/encrypt.js';
import { policyFor, httpsPolicyFetcher, type CachedPolicy } from './deliver/mta-sts.js';
import { createPortalMessage, expire as expirePortal, getPortal } from './portal/store.js';
import { startPortal, portalUrl, type RunningPortal } from './portal/server.js';
import { notificationMail, codeMail, receiptMail, senderName, type Templates } from './portal/notification.js';
import { headerBlockEnd, parseHeaderLines } from './message-headers.js';
import { createHash as hash } from 'node:crypto';
import type { PortalDeposit } from './pipeline.js';
import { mkdirSync } from 'node:fs';
import { Journal } from './spool/journal.js';
import { JOURNAL_ANCHOR } from './spool/journal-record.js';
import { join } from 'node:path';

export interface GatewayOptions {
  configFile?: string;
  config?: Config;
  log?: Logger;
  resolver?: Resolver & { lookup(host: string): Promise<string[]> };
  now?: () => number;
  rescanMs?: number;
  /** fetches https://mta-sts.DOMAIN/.well-known/mta-sts.txt (tests serve it locally); default: the system trust store */
  mtaStsFetch?: (domain: string) => Promise<string>;
  /** Web Key Directory GET (tests serve keys locally); default: HTTPS with the system trust store */
  wkdGet?: WkdGet;
}

export interface Gateway {
  config: Config;
  /** the portal's port, when it runs */
  portalPort: number | null;
  store: Store;
  pipeline: Pipeline;
  listeners: RunningListeners;
  reload(): void;
  /** The policy set in force now. */
  policy(): PolicySet;
  stop(): Promise<void>;
}

/** Finding types rules may name: the built-in ones and the organisation's own detector types. */
export function knownFindingTypes(org: OrgDetectors): string[] {
  return [...new Set([...ENTITY_TYPES, ...org.detectors.map((d) => d.type)])];
}

export const systemResolver: Resolver & { lookup(host: string): Promise<string[]> } = {
  resolveMx: (n) => dns.promises.resolveMx(n),
  resolve4: (n) => dns.promises.resolve4(n),
  resolve6: (n) => dns.promises.resolve6(n),
  resolveTxt: (n) => dns.promises.resolveTxt(n),
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

/** A file the config names (key, certificate, template), or one clear error naming the config key. */
function readNamedFile(config: Config, file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new PhigateError('CONFIG_INVALID', `${config.file}: ${key} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The organisation's PGP key and S/MIME signer from the config's files (read at start and on reload). */
function orgCrypto(config: Config): { pgpOrgKey: string | null; signer: { certPem: string; keyPem: string } | null } {
  const read = (f: string, key: string) => readNamedFile(config, f, key);
  const e = config.encryption;
  return {
    pgpOrgKey: e.pgpOrgKey ? read(e.pgpOrgKey, 'encryption.pgpOrgKey') : null,
    signer: e.smimeSign ? { certPem: read(e.smimeSign.cert, 'encryption.smimeSign.cert'), keyPem: read(e.smimeSign.key, 'encryption.smimeSign.key') } : null,
  };
}

/** MTA-STS policies: discovered by TXT, fetched over HTTPS, cached in the store (surviving restarts) until max_age. */
function mtaStsLookup(store: Store, resolver: Resolver, fetch: (domain: string) => Promise<string>, now: () => number, log: Logger): (domain: string) => Promise<CachedPolicy | null> {
  // one TXT lookup per domain per minute at most, not one per message
  const recent = new Map<string, { at: number; policy: CachedPolicy | null }>();
  return async (domain) => {
    const hit = recent.get(domain);
    if (hit && now() - hit.at < 60_000) return hit.policy;
    if (!resolver.resolveTxt) return null;
    const r = await policyFor(domain, {
      resolveTxt: (n) => resolver.resolveTxt!(n), fetchPolicy: fetch, now,
      cache: { get: (d) => store.meta.get(`sts:${d}`) as CachedPolicy | undefined, put: (d, p) => { void store.meta.put(`sts:${d}`, p); } },
    });
    if (r.problem) log.warn({ domain, problem: r.problem, source: r.source }, 'MTA-STS');
    recent.set(domain, { at: now(), policy: r.policy });
    return r.policy;
  };
}

function readTemplates(config: Config): Templates {
  return {
    text: readNamedFile(config, config.portal.notificationText, 'portal.notificationText'),
    html: readNamedFile(config, config.portal.notificationHtml, 'portal.notificationHtml'),
  };
}

/** The portal side of delivery: keep the copy sealed in the store and make the recipient's notification. */
function portalDeposit(store: Store, config: () => Config, templates: () => Templates, now: () => number): PortalDeposit {
  return {
    async deposit({ bytes, entry, recipient, passphrase }) {
      const c = config();
      const expiresAt = now() + c.portal.expiryMs;
      const { id, token } = await createPortalMessage(store, { bytes, sender: entry.sender, recipient, queueId: entry.queueId, messageId: entry.messageId, expiresAt, now: now(), ...(passphrase ? { passphrase } : {}) });
      const from = parseHeaderLines(bytes.subarray(0, headerBlockEnd(bytes).end).toString('utf8')).find(([n]) => n === 'from')?.[1];
      const notice = notificationMail(templates(), { hostname: c.hostname, to: recipient, sender: senderName(from, entry.sender || c.hostname), link: portalUrl(c.portal.baseUrl, token), expiresAt: new Date(expiresAt) });
      return { portalId: id, expiresAt, notice };
    },
  };
}

/** The portal's certificate: its own (portal.tls), checked like the gateway's, or the gateway's. */
function portalTls(config: Config, gatewayTls: { key: Buffer; cert: Buffer }): { key: Buffer; cert: Buffer } {
  if (!config.portal.tls) return gatewayTls;
  const pair = {
    key: Buffer.from(readNamedFile(config, config.portal.tls.key, 'portal.tls.key')),
    cert: Buffer.from(readNamedFile(config, config.portal.tls.cert, 'portal.tls.cert')),
  };
  checkTlsPair(pair.key, pair.cert, { ...config, tls: { ...config.tls, cert: config.portal.tls.cert, key: config.portal.tls.key } });
  return pair;
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
  const loaded = opts.config ?? loadConfig(opts.configFile);
  mkdirSync(loaded.dataDir, { recursive: true, mode: 0o700 });
  // one gateway per data directory, held until stop; a start that fails lets go of it
  const lock = lockDataDir(loaded.dataDir);
  try {
    return await startLocked(opts, loaded, lock);
  } catch (e) {
    lock.release();
    throw e;
  }
}

async function startLocked(opts: GatewayOptions, loaded: Config, lock: DataLock): Promise<Gateway> {
  let config = loaded;
  const log = opts.log ?? createLogger(config.logLevel);
  const now = opts.now ?? Date.now;
  const tlsFiles = ensureServerCert(config.tls.cert, config.tls.key, config.hostname);
  if (tlsFiles.created) log.warn({ cert: config.tls.cert, key: config.tls.key }, 'no server certificate found: created a self-signed one; replace it with a certificate clients trust');
  checkTlsPair(tlsFiles.key, tlsFiles.cert, config);
  let dkimKeys: DkimKey[] = loadDkimKeys(config.dkim);
  let extraCa = config.outbound.caFile ? readFileSync(config.outbound.caFile, 'utf8') : null;
  let org = orgCrypto(config);
  let templates = readTemplates(config);
  const wkdGet = opts.wkdGet ?? httpsWkdGetter();
  mkdirSync(config.policies, { recursive: true });
  // inspect runs in worker threads so scanning never delays an SMTP reply
  const orgAtStart = loadOrgDetectors(config.policies);
  if (orgAtStart.problems.length) throw new FileProblemsError('CONFIG_INVALID', orgAtStart.problems);
  let detectors = orgAtStart.detectors;
  const policyAtStart = loadPolicySet(config.policies, { knownTypes: knownFindingTypes(detectors), now: now() });
  if (!policyAtStart.set) throw new FileProblemsError('POLICY_INVALID', policyAtStart.problems);
  let policySet: PolicySet = policyAtStart.set;
  const scanPool = new ScanPool({ timeoutMs: config.inspect.timeBudgetMs, size: config.inspect.workers ?? undefined, org: detectors });
  // the policies folder (rules, lists and the organisation's detectors) reloads as a whole: on SIGHUP and when a
  // file changes. A set with any problem is not used: the last good one stays in force, and the audit says so.
  const reloadPolicies = (why: string) => {
    const nextOrg = loadOrgDetectors(config.policies);
    const next = loadPolicySet(config.policies, { knownTypes: knownFindingTypes(nextOrg.problems.length ? detectors : nextOrg.detectors), now: now() });
    const problems = [...nextOrg.problems, ...next.problems];
    if (problems.length || !next.set) {
      for (const p of problems) log.error({ file: p.file, line: p.line, col: p.col, problem: p.message }, 'policy files invalid; the previous policy set stays in force');
      appendDurable(store, [{ event: 'policy-reload-failed', actor: 'system', details: { why, inForce: policySet.version, problems: problems.map((p) => `${p.file}:${p.line}:${p.col} ${p.message}`) } }])
        .catch((err: Error) => log.error({ err: err.message }, 'audit append failed'));
      return;
    }
    if (JSON.stringify(nextOrg.detectors) !== JSON.stringify(detectors)) {
      detectors = nextOrg.detectors;
      scanPool.reload(detectors);
      log.info({ detectors: detectors.detectors.length, why }, 'organisation detectors reloaded');
    }
    if (next.set.version === policySet.version) return;
    const previous = policySet.version;
    policySet = next.set;
    log.info({ version: policySet.version, rules: policySet.rules.length, files: policySet.files, why }, 'policy set loaded');
    appendDurable(store, [{ event: 'policy-reload', actor: 'system', details: { why, version: policySet.version, previous, rules: policySet.rules.length, files: policySet.files, lists: policySet.lists } }])
      .catch((err: Error) => log.error({ err: err.message }, 'audit append failed'));
  };
  let watcher: FSWatcher | null = null;
  try {
    let debounce: NodeJS.Timeout | null = null;
    watcher = watch(config.policies, (_ev, name) => {
      if (name && !/\.(ya?ml|txt|csv)$/i.test(name)) return;
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(() => reloadPolicies('file changed'), 200);
      debounce.unref();
    });
    watcher.unref();
  } catch { /* no file watching here: SIGHUP still reloads */ }
  const keyFile = ensureMasterKey(config.portal.masterKey);
  if (keyFile.created) log.warn({ file: config.portal.masterKey }, 'no master key found: created one; back it up apart from the data directory (without it the spool cannot be read)');
  const store = openStore(config.dataDir, { keyring: keyringCache(config.portal.masterKey) });
  let opened: ReturnType<typeof Journal.open>;
  try {
    opened = Journal.open(join(config.dataDir, 'journal'), { anchor: JOURNAL_ANCHOR });
  } catch (e) {
    await store.close();
    throw e;
  }
  const journal = opened.journal;
  let listeners: RunningListeners | undefined;
  const users = usersCache(config.users, log);
  users();
  const lockout = new Lockout({ maxFailures: config.auth.maxFailures, windowMs: config.auth.windowMs, lockoutMs: config.auth.lockoutMs, now });
  const pipeline = createPipeline({
    config: () => config, store, log, now,
    resolver: opts.resolver ?? systemResolver,
    dkimKeys: () => dkimKeys,
    extraCa: () => extraCa,
    scan: (bytes, o) => scanPool.scan(bytes, o),
    policy: () => policySet,
    keys: {
      pgpKeyFor: async (a) => {
        const at = new Date(now());
        const stored = await pgpKeyFor(store, a, at);
        if (stored || !config.encryption.wkd) return stored;
        return wkdKeyFor(store, a, (x) => wkdLookup(x, wkdGet, at), at);
      },
      smimeCertFor: async (a) => smimeCertFor(store, a, new Date(now())),
      pgpOrgKey: () => org.pgpOrgKey,
      smimeSigner: () => org.signer,
    } satisfies KeyLookup,
    mtaSts: mtaStsLookup(store, opts.resolver ?? systemResolver, opts.mtaStsFetch ?? httpsPolicyFetcher({}), now, log),
    ...(config.portal.listen ? { portal: portalDeposit(store, () => config, () => templates, now) } : {}),
    openSessions: () => listeners?.openSessions() ?? 0,
    journal,
  });
  try {
    // messages a crash left in the journal only: into the spool before anything else runs
    const replayed = await pipeline.replay(opened.records);
    if (replayed) log.warn({ messages: replayed }, 'applied accepted messages from the acceptance journal that the spool did not have yet');
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
    journal.close();
    await store.close();
    throw e;
  }
  let portal: RunningPortal | null = null;
  if (config.portal.listen) {
    const audit = (e: Parameters<typeof appendDurable>[1][number]) => appendDurable(store, [e]).catch((err: Error) => log.error({ err: err.message }, 'audit append failed'));
    try {
      portal = await startPortal({
        store, listen: config.portal.listen, tls: portalTls(config, tlsFiles), baseUrl: config.portal.baseUrl, now, log,
        codeLifetimeMs: config.portal.codeLifetimeMs, maxAttempts: config.portal.codeAttempts, lockMs: config.portal.lockoutMs,
        audit: (e) => {
          void audit({ event: e.event, recipient: e.recipient ?? null, details: { portalId: e.portalId, ...(e.details ?? {}) } });
          // a read receipt for the sender, the first time the recipient opens the message
          const first = e.event === 'portal-opened' && (e.details as { opened?: number } | undefined)?.opened === 1;
          const r = first && config.portal.readReceipts ? getPortal(store, e.portalId) : undefined;
          if (r && r.sender) {
            const m = receiptMail({ hostname: config.hostname, to: r.sender, recipient: r.recipient, messageId: r.messageId, openedAt: new Date(now()) });
            pipeline.submitInternal(r.sender, m.messageId, m.bytes).catch((err: Error) => log.error({ err: err.message }, 'read receipt not queued'));
          }
        },
        sendCode: async (recipient, code) => {
          const m = codeMail({ hostname: config.hostname, to: recipient, code, minutes: Math.round(config.portal.codeLifetimeMs / 60_000) });
          await pipeline.submitInternal(recipient, m.messageId, m.bytes);
        },
        submitReply: async (from, to, subject, text, inReplyTo) => {
          const t = now();
          const messageId = `${hash('sha256').update(`${from}${t}${Math.random()}`).digest('hex').slice(0, 24)}.reply@${config.hostname}`;
          const bytes = Buffer.from([
            `From: <${from}>`, `To: <${to}>`, `Subject: ${subject.replace(/[\r\n]+/g, ' ')}`, `Date: ${new Date(t).toUTCString().replace('GMT', '+0000')}`,
            `Message-ID: <${messageId}>`, ...(inReplyTo ? [`In-Reply-To: ${inReplyTo}`, `References: ${inReplyTo}`] : []),
            'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', text.replace(/\r?\n/g, '\r\n'), '',
          ].join('\r\n'), 'utf8');
          // a reply is a message like any other: scanned, decided by policy, audited, delivered
          await pipeline.accept({
            queueId: newQueueId(t), kind: 'message', messageId, fromDomain: from.slice(from.lastIndexOf('@') + 1).toLowerCase(), sender: from, recipients: [to],
            client: { listener: 'portal', clientIp: '127.0.0.1' }, size: bytes.length, sha256: hash('sha256').update(bytes).digest('hex'), receivedAt: t,
          }, bytes);
        },
      });
      log.info({ port: portal.port, baseUrl: config.portal.baseUrl }, 'portal listening');
    } catch (e) {
      await listeners.close(1000);
      await pipeline.stop(0);
      await scanPool.close();
      journal.close();
      await store.close();
      throw e;
    }
  }
  // expired portal messages lose their content (the audit keeps that they existed and when they went)
  const sweep = setInterval(() => {
    if (!config.portal.listen) return;
    expirePortal(store, now()).then((ids) => {
      if (ids.length) void appendDurable(store, ids.map((id) => ({ event: 'portal-expired' as const, actor: 'system', details: { portalId: id } })));
    }).catch((err: Error) => log.error({ err: err.message }, 'portal expiry sweep failed'));
  }, 60_000);
  sweep.unref();
  pipeline.rescan();
  const rescan = setInterval(() => pipeline.rescan(), opts.rescanMs ?? 5000);
  rescan.unref();
  await appendDurable(store, [{ event: 'admin', actor: 'system', details: { action: 'start', listeners: listeners.addresses, pid: process.pid, policyVersion: policySet.version, rules: policySet.rules.length } }]);
  log.info({ hostname: config.hostname, dataDir: config.dataDir, policies: config.policies, policyVersion: policySet.version, rules: policySet.rules.length }, 'phigate started');

  let stopped = false;
  return {
    config, store, pipeline, listeners,
    portalPort: portal?.port ?? null,
    policy: () => policySet,
    reload() {
      try {
        const next = opts.config ?? loadConfig(config.file);
        const keys = loadDkimKeys(next.dkim);
        extraCa = next.outbound.caFile ? readFileSync(next.outbound.caFile, 'utf8') : null;
        org = orgCrypto(next);
        templates = readTemplates(next);
        dkimKeys = keys;
        config = { ...config, outbound: next.outbound, dkim: next.dkim, encryption: next.encryption, portal: { ...next.portal, listen: config.portal.listen } };
        users(true);
        reloadPolicies('SIGHUP');
        log.info({}, 'reloaded users, DKIM keys, outbound settings and policies (listener changes and outbound.maxConcurrency need a restart)');
      } catch (e) {
        log.error({ err: (e as Error).message }, 'reload failed; the previous configuration stays in force');
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(rescan);
      clearInterval(sweep);
      await portal?.close();
      // One bound for the whole shutdown: open transactions and running deliveries share shutdownTimeout.
      const bound = config.shutdownTimeoutMs;
      const deadline = Date.now() + bound;
      log.info({ timeoutMs: bound }, 'shutting down: no new connections, finishing transactions and deliveries');
      await listeners.close(bound);
      await pipeline.stop(Math.max(0, deadline - Date.now()));
      // the journal's records are all in the synced spool now; once the hand-backs waiting on that sync have
      // run, the closed journal deletes its segment (a record not handed back keeps it, for the next start)
      await store.durable();
      await new Promise((r) => setImmediate(r));
      journal.close();
      watcher?.close();
      await scanPool.close();
      try {
        await appendDurable(store, [{ event: 'admin', actor: 'system', details: { action: 'stop', pid: process.pid } }]);
      } catch { /* store may already be failing; nothing more to do */ }
      await store.close();
      lock.release();
      log.info({}, 'stopped');
    },
  };
}
