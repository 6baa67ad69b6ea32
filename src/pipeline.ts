// Owns the order of the stages and nothing else: listener hands a Received envelope to spool (with its audit
// events, in one durable commit); the scheduler runs due entries through transform (DKIM) and deliver; the
// outcome updates the queue, the audit and, for failures, produces DSNs.
import { createHash } from 'node:crypto';
import type { Store } from './store.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import { domainOf, type Inspected, type Prepared, type ScanFacts, type Attempted, type DkimResult, type Queued, type Received, type RecipientOutcome, type RecipientStatus } from './envelope.js';
import { appendInTxn } from './audit/append.js';
import type { AuditInput } from './audit/record.js';
import { DERIVED, commit, commitDurably, getBytes, getEntry, isFinished, listEntries, newEntry, putInTxn, removeInTxn, updateInTxn } from './spool/spool.js';
import { Scheduler } from './spool/scheduler.js';
import { newQueueId } from './spool/ids.js';
import { dkimSignBytes, type DkimKey } from './transform/dkim.js';
import { deliverBatch, type DeliverDeps } from './deliver/deliver.js';
import { tlsLevelFor } from './deliver/tls-policy.js';
import { buildDsn, headerBlockOf, statusOf } from './deliver/dsn.js';
import { SessionPool } from './deliver/client.js';
import type { Resolver } from './deliver/route.js';

export interface PipelineDeps {
  config: () => Config;
  store: Store;
  log: Logger;
  now: () => number;
  resolver: Resolver & { lookup(host: string): Promise<string[]> };
  dkimKeys: () => DkimKey[];
  extraCa: () => string | null;
  /** The inspect stage: never throws; a failed scan comes back as phi with reason scan-failed. */
  scan: (bytes: Buffer) => Promise<ScanFacts>;
}

const OUT_PREFIX = DERIVED.out;
const SCAN_PREFIX = DERIVED.scan;

/** The session pool, plus the sessions in use, so stop() can cut off deliveries that outlive its bound. */
/** Writes an attempt collects on the way (scan, signed copy, their events) for finish's one transaction. */
interface PendingWrites {
  writes: (() => void)[];
  /** only when some recipient stays queued: the signed copy for the retries */
  keepIfQueued: (() => void)[];
  events: AuditInput[];
}

export interface Pipeline {
  accept(env: Received, bytes: Buffer): Promise<void>;
  /** Re-reads the queue and schedules every unfinished entry (start-up, and periodically for CLI changes). */
  rescan(): void;
  stop(timeoutMs: number): Promise<void>;
  readonly scheduler: Scheduler;
}

function receivedEvents(env: Received): AuditInput[] {
  const base = { queueId: env.queueId, messageId: env.messageId, sender: env.sender, recipients: env.recipients };
  return [
    {
      event: 'received', ...base,
      details: {
        listener: env.client.listener, clientIp: env.client.clientIp, helo: env.client.helo ?? null, user: env.client.user ?? null,
        tlsProtocol: env.client.tls?.protocol ?? null, tlsCipher: env.client.tls?.cipher ?? null,
        size: env.size, sha256: env.sha256, kind: env.kind,
      },
    },
    { event: 'queued', ...base, details: { recipients: env.recipients.length } },
  ];
}

function nextAttempt(entry: Queued, attempts: number, now: number, c: Config): number {
  const sched = c.outbound.retry.scheduleMs;
  const delay = sched[Math.min(attempts - 1, sched.length - 1)]!;
  return Math.min(now + delay, entry.receivedAt + c.outbound.retry.maxAgeMs);
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { store, log } = deps;
  const cfg0 = deps.config();
  const pool = new SessionPool(() => {
    const c = deps.config();
    return { heloName: c.outbound.heloName, connectTimeoutMs: c.outbound.connectTimeoutMs, extraCa: deps.extraCa(), maxPerHost: c.outbound.maxPerHost };
  });
  const scheduler = new Scheduler({
    now: deps.now,
    maxConcurrency: cfg0.outbound.maxConcurrency,
    run: (id) => processEntry(id),
    onError: (id, e) => {
      log.error({ queueId: id, err: (e as Error).message }, 'queue run failed; will retry');
      scheduler.schedule(id, deps.now() + 60_000);
    },
  });

  async function accept(env: Received, bytes: Buffer): Promise<void> {
    const entry = newEntry(env, env.receivedAt);
    await commitDurably(store, () => {
      putInTxn(store, entry, bytes);
      for (const e of receivedEvents(env)) appendInTxn(store, e);
    });
    log.info({ queueId: env.queueId, listener: env.client.listener, recipients: env.recipients.length, size: env.size }, 'queued');
    scheduler.schedule(env.queueId, deps.now());
  }

  /** The scan of a message, made once and kept beside it; audited as `scanned` (types, counts, never values). */
  async function inspected(entry: Queued, pre: PendingWrites): Promise<Inspected | null> {
    const kept = store.meta.get(SCAN_PREFIX + entry.queueId) as ScanFacts | undefined;
    if (kept) return { ...entry, scan: kept };
    if (entry.kind === 'dsn') {
      const none: ScanFacts = { phi: false, score: 0, reasons: ['internal-dsn'], findings: [], unscanned: [], scanMs: 0, bytesScanned: 0 };
      return { ...entry, scan: none };
    }
    const bytes = getBytes(store, entry.queueId);
    if (!bytes) return null;
    const scan = await deps.scan(bytes); // the pool may take these bytes (transfer); they are not used again
    // written with the attempt's outcome, in one transaction (a crash before it means a fresh scan, no loss)
    pre.writes.push(() => store.meta.put(SCAN_PREFIX + entry.queueId, scan));
    pre.events.push({
      event: 'scanned', queueId: entry.queueId, messageId: entry.messageId, sender: entry.sender, recipients: entry.recipients,
      details: {
        phi: scan.phi, score: scan.score, reasons: scan.reasons, scanMs: scan.scanMs, bytes: scan.bytesScanned,
        findings: scan.findings.map((f) => ({ type: f.type, where: f.where, count: f.count, confidence: f.confidence })),
        unscanned: scan.unscanned,
      },
    });
    log.info({ queueId: entry.queueId, phi: scan.phi, findings: scan.findings.length, unscanned: scan.unscanned.length, scanMs: scan.scanMs }, 'scanned');
    return { ...entry, scan };
  }

  /** The bytes that leave: DKIM-signed once, kept in the spool so every retry sends the same bytes. */
  async function prepared(entry: Inspected, pre: PendingWrites): Promise<Prepared | null> {
    const cached = store.messages.get(OUT_PREFIX + entry.queueId);
    const meta = store.meta.get(OUT_PREFIX + entry.queueId) as DkimResult | undefined;
    if (cached && meta) return { ...entry, outBytes: cached, dkim: meta };
    const original = getBytes(store, entry.queueId);
    if (!original) return null;
    const signed = await dkimSignBytes(original, entry.fromDomain, deps.dkimKeys());
    // kept for retries only: a message delivered at the first attempt never stores a second copy
    pre.keepIfQueued.push(() => {
      store.messages.put(OUT_PREFIX + entry.queueId, signed.bytes);
      store.meta.put(OUT_PREFIX + entry.queueId, signed.dkim);
    });
    if (signed.dkim.signed) {
      pre.events.push({
        event: 'dkim-signed', queueId: entry.queueId, messageId: entry.messageId, sender: entry.sender,
        details: { domain: signed.dkim.domain, selector: signed.dkim.selector, algorithm: signed.dkim.algorithm },
      });
    }
    return { ...entry, outBytes: signed.bytes, dkim: signed.dkim };
  }

  async function processEntry(queueId: string): Promise<void> {
    const entry = getEntry(store, queueId);
    if (!entry) return;
    const c = deps.config();
    const now = deps.now();
    const due = entry.status.filter((s) => (s.state === 'pending' || s.state === 'deferred') && s.nextAttemptAt <= now);
    if (!due.length) return reschedule(entry);
    const pre: PendingWrites = { writes: [], keepIfQueued: [], events: [] };
    const inspectedEntry = await inspected(entry, pre);
    const out = inspectedEntry ? await prepared(inspectedEntry, pre) : null;
    if (!out) {
      log.error({ queueId }, 'queue entry has no message bytes; recipients bounced');
      return finish(entry, due.map((s) => ({ address: s.address, outcome: 'bounced', reply: 'message bytes missing from the spool', reason: 'spool-missing' })), [], out, pre);
    }
    const byDomain = new Map<string, string[]>();
    for (const s of due) {
      const d = domainOf(s.address);
      byDomain.set(d, [...(byDomain.get(d) ?? []), s.address]);
    }
    const deliverDeps: DeliverDeps = { resolver: deps.resolver, pool, routes: c.outbound.routes };
    const results = await Promise.all([...byDomain].map(([domain, recipients]) =>
      deliverBatch({ queueId, domain, sender: entry.sender, recipients, bytes: out.outBytes, level: tlsLevelFor(domain, c.outbound.tls) }, deliverDeps)));
    return finish(entry, results.flatMap((r) => r.outcomes), results, out, pre);
  }

  /** One write transaction per attempt: the scan, the signature and the outcome land together. */
  async function finish(entry: Queued, outcomes: RecipientOutcome[], results: (Attempted & { attempts?: unknown[] })[], out: { dkim: DkimResult } | null, pre: PendingWrites): Promise<void> {
    const c = deps.config();
    const now = deps.now();
    const nowDate = new Date(now);
    const events: AuditInput[] = [...pre.events];
    const base = { queueId: entry.queueId, messageId: entry.messageId, sender: entry.sender };
    for (const r of results) {
      events.push({
        event: 'delivery-attempt', ...base, recipients: r.outcomes.map((o) => o.address),
        details: {
          host: r.hop?.host ?? null, ip: r.hop?.ip ?? null, port: r.hop?.port ?? null,
          tlsRequired: r.hop?.tls.required ?? null, tlsProtocol: r.hop?.tls.protocol ?? null, tlsCipher: r.hop?.tls.cipher ?? null,
          tlsVerified: r.hop?.tls.verified ?? false, dkim: out?.dkim.signed ? out.dkim.domain : null, hopsTried: r.attempts ?? [],
        },
      });
    }
    const hopOf = new Map<string, Attempted['hop']>();
    for (const r of results) for (const o of r.outcomes) hopOf.set(o.address, r.hop);
    const bounced: { status: RecipientStatus; outcome: RecipientOutcome; status3463: string }[] = [];
    const status = entry.status.map((s) => ({ ...s }));
    for (const o of outcomes) {
      const s = status.find((x) => x.address === o.address)!;
      s.attempts += 1;
      s.updatedAt = now;
      s.lastReply = o.reply;
      const hop = hopOf.get(o.address) ?? null;
      if (o.outcome === 'delivered') {
        s.state = 'delivered';
        events.push({ event: 'delivered', ...base, recipient: o.address, details: { host: hop?.host, ip: hop?.ip, port: hop?.port, tlsProtocol: hop?.tls.protocol ?? null, tlsCipher: hop?.tls.cipher ?? null, tlsVerified: hop?.tls.verified ?? false, tlsRequired: hop?.tls.required, reply: o.reply } });
        continue;
      }
      let outcome = o.outcome;
      let reason = o.reason;
      let reply = o.reply;
      if (outcome === 'deferred' && now >= entry.receivedAt + c.outbound.retry.maxAgeMs) {
        outcome = 'bounced';
        reason = 'max-age';
        reply = `gave up after ${Math.round((now - entry.receivedAt) / 1000)}s in the queue; last error: ${o.reply}`;
      }
      s.lastError = reason;
      if (outcome === 'bounced') {
        s.state = 'bounced';
        const st = reason === 'max-age' ? '5.4.7' : statusOf(reply, true);
        events.push({ event: 'bounced', ...base, recipient: o.address, details: { reason, status: st, reply, host: hop?.host ?? null } });
        bounced.push({ status: s, outcome: { ...o, reply, reason }, status3463: st });
      } else {
        s.state = 'deferred';
        s.nextAttemptAt = nextAttempt(entry, s.attempts, now, c);
        events.push({ event: 'deferred', ...base, recipient: o.address, details: { reason, reply, attempts: s.attempts, nextAttemptAt: new Date(s.nextAttemptAt).toISOString(), host: hop?.host ?? null, tlsRequired: hop?.tls.required ?? null } });
      }
    }
    const updated: Queued = { ...entry, status };
    let dsn: { env: Received; bytes: Buffer } | null = null;
    if (bounced.length && entry.sender !== '' && entry.kind !== 'dsn') {
      const original = getBytes(store, entry.queueId) ?? Buffer.alloc(0);
      const built = buildDsn({
        reportingMta: c.hostname, queueId: entry.queueId, originalSender: entry.sender, arrival: new Date(entry.receivedAt),
        recipients: bounced.map((b) => ({ address: b.status.address, status: b.status3463, reply: b.outcome.reply, remoteMta: hopOf.get(b.status.address)?.host, lastAttempt: nowDate })),
        originalHeaders: headerBlockOf(original), now: nowDate,
      });
      const dsnId = newQueueId(now);
      dsn = {
        bytes: built.bytes,
        env: {
          queueId: dsnId, kind: 'dsn', messageId: built.messageId, fromDomain: c.hostname.toLowerCase(), sender: '', recipients: [entry.sender],
          client: { listener: 'internal', clientIp: '127.0.0.1' }, size: built.bytes.length,
          sha256: createHash('sha256').update(built.bytes).digest('hex'), receivedAt: now,
        },
      };
      events.push({ event: 'dsn-sent', ...base, recipients: bounced.map((b) => b.status.address), details: { dsnQueueId: dsnId, dsnMessageId: built.messageId, to: entry.sender } });
    }
    const done = isFinished(updated);
    // not waiting for the fsync: a crash before it means another attempt (at least once), never a loss
    await commit(store, () => {
      for (const w of pre.writes) w();
      if (!done) for (const w of pre.keepIfQueued) w();
      if (dsn) {
        putInTxn(store, newEntry(dsn.env, now), dsn.bytes);
        for (const e of receivedEvents(dsn.env)) appendInTxn(store, e);
      }
      for (const e of events) appendInTxn(store, e);
      if (done) {
        removeInTxn(store, entry.queueId);
      } else updateInTxn(store, updated);
    }, { durable: false });
    for (const o of outcomes) log.info({ queueId: entry.queueId, outcome: status.find((s) => s.address === o.address)?.state, reason: o.reason }, 'delivery');
    if (dsn) scheduler.schedule(dsn.env.queueId, now);
    if (!done) reschedule(updated);
  }

  function reschedule(entry: Queued): void {
    const open = entry.status.filter((s) => s.state === 'pending' || s.state === 'deferred');
    if (!open.length) return;
    scheduler.schedule(entry.queueId, Math.min(...open.map((s) => s.nextAttemptAt)));
  }

  function rescan(): void {
    for (const e of listEntries(store)) reschedule(e);
  }

  return {
    accept,
    rescan,
    scheduler,
    async stop(timeoutMs) {
      await scheduler.stop(timeoutMs);
      // Deliveries still running at the bound are cut off (their connections closed) so the process can exit;
      // nothing was recorded for them, so their messages stay queued and go out after the restart.
      if (scheduler.inFlight) {
        log.warn({ deliveries: scheduler.inFlight }, 'shutdown bound reached: aborting deliveries in progress; their messages stay queued');
        pool.abortAll();
        await scheduler.stop(1000);
      }
      pool.closeAll();
    },
  };
}
