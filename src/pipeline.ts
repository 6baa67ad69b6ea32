// Owns the order of the stages and nothing else: at DATA the listener's Received envelope is scanned (inspect) and
// decided per recipient (policy), then spooled with its audit events in one durable commit (or refused with 550
// when policy rejects every recipient; a lone client's message is synced to the acceptance journal first and
// committed right after its 250); the scheduler runs due recipients through their route: transform (rule
// edits, DKIM) and deliver, a fallback to the next protected method, a hold, or a policy bounce; the outcome
// updates the queue and the audit and produces DSNs and notices.
import { createHash } from 'node:crypto';
import type { Store } from './store.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import { domainOf, type Inspected, type Prepared, type ScanFacts, type Attempted, type DkimResult, type Queued, type Received, type RecipientOutcome, type RecipientStatus, type Route, type TlsLevel } from './envelope.js';
import { SmtpReplyError } from './smtp-reply.js';
import type { PolicySet } from './policy/rule-set.js';
import { evaluate, mayRefuse, type Decision } from './policy/evaluate.js';
import { planFor, isTlsRequirementFailure, type MethodAvailability, type Plan } from './policy/route-plan.js';
import { encryptCopy, type CopySpec, type KeyLookup, type Material } from './transform/encrypt.js';
import { policyMessage } from './policy/message.js';
import { applyChanges, changesKey } from './transform/content.js';
import { buildNotice } from './deliver/notice.js';
import { takePassphrase } from './portal/passphrase.js';
import { SCANNER_STOPPED } from './inspect/pool.js';
import { appendInTxn, indexAuditTail } from './audit/append.js';
import type { AuditInput } from './audit/record.js';
import { FreshBytes } from './spool/fresh-bytes.js';
import { DERIVED, getBytes, getEntry, isFinished, listEntries, newEntry, putInTxn, putSealedInTxn, removeInTxn, updateInTxn } from './spool/spool.js';
import type { Journal, RecordRead, Ticket } from './spool/journal.js';
import { JournalWriteError } from './errors.js';
import { JOURNAL_MARK, journalMark, journalRecord, parseJournalHead, readJournalRecord, segmentMarks, type JournalHead } from './spool/journal-record.js';
import { Scheduler } from './spool/scheduler.js';
import { COMMITTER_CLOSED, GroupCommitter } from './spool/group-commit.js';
import { newQueueId } from './spool/ids.js';
import { dkimSignBytes, type DkimKey } from './transform/dkim.js';
import { deliverBatch, type DeliverDeps } from './deliver/deliver.js';
import { tlsLevelFor } from './deliver/tls-policy.js';
import { routeFor } from './deliver/route.js';
import type { CachedPolicy } from './deliver/mta-sts.js';
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
  /** The inspect stage: never throws; a failed scan comes back as phi with reason scan-failed. `background`: no client waits for it. */
  scan: (bytes: Buffer, opts?: { background?: boolean }) => Promise<ScanFacts>;
  /** The policy set in force (swapped atomically on reload). */
  policy: () => PolicySet;
  /** Recipients' OpenPGP keys and S/MIME certificates, and the organisation's own. */
  keys: KeyLookup;
  /** A destination's MTA-STS policy (discovered, fetched and cached); absent: MTA-STS is not used. */
  mtaSts?: (domain: string) => Promise<CachedPolicy | null>;
  /** The secure portal: keeps a recipient's copy and gives the notification to send them; absent: no portal. */
  portal?: PortalDeposit;
  /** SMTP clients connected now (picks how commits are made, see spool/group-commit.ts); absent: one */
  openSessions?: () => number;
  /** The acceptance journal (spool/journal.ts): a lone client's message is synced there; absent: never */
  journal?: Journal;
}

export interface PortalDeposit {
  deposit(input: { bytes: Buffer; entry: Queued; recipient: string; passphrase?: string }): Promise<{ portalId: string; expiresAt: number; notice: { bytes: Buffer; messageId: string } }>;
}

/** Written by every replay: a synced commit, also of what a killed gateway committed without a sync. */
const JOURNAL_REPLAYED = 'journal-replayed';
/**
 * How long a journaled message may wait for a group commit to ride in: with one client, several messages and
 * their policy decisions then share one LMDB commit (and sync), which the journal's fdatasync competes with.
 * Measured, 1 KB at one client with a new connection per message, alternating runs of 1,000: 5.36 ms per
 * session with 20 ms windows (this and COMMIT_WINDOWS.lazyMs), 4.89 ms with 50 ms (Postfix: 4.3-4.5 ms).
 */
const JOURNAL_APPLY_MS = 50;
/** How many bytes of just-accepted messages are kept in memory for their first delivery attempt. */
const FRESH_BYTES = 32 * 1024 * 1024;

const OUT_PREFIX = DERIVED.out;
const SCAN_PREFIX = DERIVED.scan;

/** What one delivery attempt gathers on the way (scan, signed copy, their events) for finish's one transaction. */
interface PendingWrites {
  /** messages we made on the way (portal notifications), queued with the outcome */
  created: { env: Received; bytes: Buffer }[];
  writes: (() => void)[];
  /** only when some recipient stays queued: the signed copy for the retries */
  keepIfQueued: (() => void)[];
  events: AuditInput[];
  /** the message's bytes, unsealed once per attempt and shared (read-only) by its stages */
  plain: () => Buffer | undefined;
}


export interface Pipeline {
  accept(env: Received, bytes: Buffer): Promise<void>;
  /** Queues a message we made (a portal code): no scan or policy, delivered at the destination's TLS level. */
  submitInternal(to: string, messageId: string, bytes: Buffer): Promise<string>;
  /** Re-reads the queue and schedules every unfinished entry (start-up, and periodically for CLI changes). */
  rescan(): void;
  /** At start, before rescan: applies the journal records LMDB does not have yet. Returns how many. */
  replay(records: (Ticket & RecordRead)[]): Promise<number>;
  stop(timeoutMs: number): Promise<void>;
  readonly scheduler: Scheduler;
}

/** Spools a message we made (a notice, DSN or portal mail) with its received/queued events, inside a write transaction. */
function spoolMade(store: Store, made: { env: Received; bytes: Buffer }, now: number): void {
  putInTxn(store, newEntry(made.env, now), made.bytes);
  for (const e of receivedEvents(made.env)) appendInTxn(store, e);
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

function scannedEvent(env: Received, scan: ScanFacts): AuditInput {
  return {
    event: 'scanned', queueId: env.queueId, messageId: env.messageId, sender: env.sender, recipients: env.recipients,
    details: {
      phi: scan.phi, score: scan.score, reasons: scan.reasons, scanMs: scan.scanMs, bytes: scan.bytesScanned,
      findings: scan.findings.map((f) => ({ type: f.type, where: f.where, count: f.count, confidence: f.confidence })),
      unscanned: scan.unscanned,
    },
  };
}

function policyEvent(env: Received, d: Decision, version: string): AuditInput {
  const r = d.route;
  return {
    event: 'policy', queueId: env.queueId, messageId: env.messageId, sender: env.sender, recipient: d.recipient,
    details: {
      rule: d.rule.id, action: r.action, policyVersion: version, findingTypes: d.types,
      ...(r.tls ? { tls: r.tls } : {}), ...(r.methods ? { methods: r.methods } : {}), ...(r.reason ? { reason: r.reason } : {}),
      ...(r.changes ? { changes: Object.keys(r.changes) } : {}),
    },
  };
}

/** Routes from decisions, onto the entry's recipients (an encrypt route starts at its first method). */
function applyDecisions(entry: Queued, decisions: Decision[]): void {
  const byRecipient = new Map(decisions.map((d) => [d.recipient, d]));
  for (const s of entry.status) {
    const d = byRecipient.get(s.address);
    if (!d) continue;
    s.route = d.route;
    if (s.route.action === 'encrypt') s.method = 0;
  }
}

/**
 * Commit windows (see GroupCommitter): an after-queue decision waits at most 50 ms for a group to ride in (with
 * several clients, their acceptances' durable commits come sooner); delivery outcomes are committed together
 * every 100 ms, or at once when 64 wait.
 */
const COMMIT_WINDOWS = { lazyMs: 50, batchMs: 100, maxBatch: 64 };

/**
 * Audit records written while a client waits for its reply at DATA leave their index entries to the next batch:
 * the synced commit is smaller (measured: 0.3 ms less per message at one client). Queries still find them.
 */
const AT_DATA = { deferIndex: true };

/** Stands in for the scan while only the envelope and headers are tested (see mayRefuse). */
const NOT_SCANNED_YET: ScanFacts = { phi: true, score: 0, reasons: ['not-scanned-yet'], findings: [], unscanned: [], scanMs: 0, bytesScanned: 0 };

function nextAttempt(entry: Queued, attempts: number, now: number, c: Config): number {
  const sched = c.outbound.retry.scheduleMs;
  const delay = sched[Math.min(attempts - 1, sched.length - 1)]!;
  return Math.min(now + delay, entry.receivedAt + c.outbound.retry.maxAgeMs);
}

/** Whether a route's rule already notifies the sender (kept on the route so the queue entry alone says it). */
function ruleTellsSender(route: Route): boolean {
  return route.notifySender === true;
}

const HEADLINE: Record<Route['action'], string> = {
  deliver: 'Notice about your message',
  encrypt: 'Your message is being sent through a protected channel',
  reject: 'Your message was not delivered to some recipients',
  quarantine: 'Your message was held for review and has not been delivered',
};

/** The envelope of a message we made (notice, portal notification or code): null sender, our host's domain. */
function internalEnv(c: Config, messageId: string, to: string, bytes: Buffer, now: number, kind: 'notice' | 'dsn' = 'notice'): Received {
  return {
    queueId: newQueueId(now), kind, messageId, fromDomain: c.hostname.toLowerCase(), sender: '', recipients: [to],
    client: { listener: 'internal', clientIp: '127.0.0.1' }, size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'), receivedAt: now,
  };
}

/** One notice as a queue entry (null sender, so a notice never bounces back into a loop). */
function noticeEntry(c: Config, entry: Received, to: string, headline: string, lines: string[], text: string | undefined, now: number): { env: Received; bytes: Buffer } {
  const built = buildNotice({ reportingMta: c.hostname, queueId: entry.queueId, messageId: entry.messageId, to, arrival: new Date(entry.receivedAt), now: new Date(now), lines, headline, ...(text ? { text } : {}) });
  return { bytes: built.bytes, env: internalEnv(c, built.messageId, to, built.bytes, now) };
}

/** The notices a set of decisions asks for (`notify` on the rule): one per rule and addressee. */
function ruleNotices(c: Config, env: Received, decisions: Decision[], now: number): { env: Received; bytes: Buffer }[] {
  const groups = new Map<string, { to: string; action: Route['action']; rule: string; text?: string; lines: string[] }>();
  for (const d of decisions) {
    if (!d.notify) continue;
    for (const t of d.notify.to) {
      const to = t === 'sender' ? env.sender : t;
      if (!to) continue;
      const k = `${d.rule.id}\0${to}`;
      const g = groups.get(k) ?? { to, action: d.route.action, rule: d.rule.id, ...(d.notify.text ? { text: d.notify.text } : {}), lines: [] };
      const what = d.route.action === 'reject' ? `refused: ${d.route.reason}` : d.route.action === 'quarantine' ? `held for review: ${d.route.reason}` : d.route.action === 'encrypt' ? 'sent through a protected channel' : 'sent';
      g.lines.push(`<${d.recipient}>: ${what} (rule ${d.rule.id})`);
      groups.set(k, g);
    }
  }
  return [...groups.values()].map((g) => noticeEntry(c, env, g.to, HEADLINE[g.action], g.lines, g.text, now));
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { store, log } = deps;
  const cfg0 = deps.config();
  const pool = new SessionPool(() => {
    const c = deps.config();
    return { heloName: c.outbound.heloName, connectTimeoutMs: c.outbound.connectTimeoutMs, extraCa: deps.extraCa(), maxPerHost: c.outbound.maxPerHost };
  });
  // one commit per turn of the event loop for acceptances; delivery outcomes are committed in batches of their own
  const commits = new GroupCommitter(store, COMMIT_WINDOWS, deps.openSessions ?? (() => 1));
  // a message's outcome still waiting for its batch: its next attempt reads the queue entry only after it lands
  const settling = new Map<string, Promise<void>>();
  // a message whose outcome could not be written is not tried again before this time (a rescan could otherwise
  // send it again at once)
  const notBefore = new Map<string, number>();
  const scheduler = new Scheduler({
    now: deps.now,
    maxConcurrency: cfg0.outbound.maxConcurrency,
    run: (id) => processEntry(id),
    onError: (id, e) => {
      log.error({ queueId: id, err: (e as Error).message }, 'queue run failed; will retry');
      scheduler.schedule(id, deps.now() + 60_000);
    },
  });

  /**
   * At DATA. When policy could refuse every recipient outright, the message is scanned and decided now: refused
   * with 550 5.7.1 and the rule's reason, or spooled with its scan, decisions and audit events in one durable
   * commit. Otherwise no answer of the scan can turn the reply into a 550, so the message is spooled at once and
   * scanned and decided right after, before its first delivery (`undecided`), off the client's time.
   */
  async function accept(env: Received, received: Buffer): Promise<void> {
    const now = deps.now();
    // a portal passphrase in the Subject leaves the message here, before scan, policy, copies and audit
    const { bytes, passphrase } = takePassphrase(received);
    if (passphrase) env = { ...env, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    const set = deps.policy();
    const headersOnly = policyMessage(env, bytes, NOT_SCANNED_YET);
    if (env.recipients.every((r) => mayRefuse(set, headersOnly, r))) return acceptDecided(env, bytes, passphrase, set, now);
    const entry: Queued = { ...newEntry(env, env.receivedAt), undecided: true };
    const j = journaled(entry, bytes, passphrase);
    if (j.journaled) return;
    await commits.durable(() => {
      spoolAccepted(entry, { plain: bytes }, passphrase);
      if (j.mark) store.meta.put(journalMark(j.mark), entry.queueId);
    });
    queued(entry, bytes);
  }

  const fresh = new FreshBytes(FRESH_BYTES);

  function queued(entry: Queued, bytes?: Buffer): void {
    if (bytes) fresh.keep(entry.queueId, bytes);
    indexSoon();
    log.info({ queueId: entry.queueId, listener: entry.client.listener, recipients: entry.recipients.length, size: entry.size }, 'queued');
    scheduler.schedule(entry.queueId, deps.now());
  }

  /** An accepted message, its passphrase and its received/queued events, inside a write transaction. */
  function spoolAccepted(entry: Queued, bytes: { plain: Buffer } | { sealed: Buffer }, passphrase: string | null, at?: Date): void {
    if ('sealed' in bytes) putSealedInTxn(store, entry, bytes.sealed);
    else putInTxn(store, entry, bytes.plain);
    if (passphrase) store.messages.put(DERIVED.passphrase + entry.queueId, Buffer.from(passphrase, 'utf8'));
    for (const e of receivedEvents(entry)) appendInTxn(store, e, at, AT_DATA);
  }

  /**
   * A lone client's message: synced to the acceptance journal here (one write and one fdatasync, see
   * spool/journal.ts), so the 250 does not wait for LMDB's synced commit. The record holds the queue entry and
   * the passphrase, and the message, each sealed at rest like the spool. Its commit to LMDB follows at once and
   * is not waited for: that asynchronous commit on lmdb's writer thread would add a round trip between threads
   * to each reply (measured: 3.8 against 1.5 ms for the 250 after DATA).
   * False (the caller commits to LMDB as usual): several clients share group commits instead, a message larger
   * than half a segment, or a journal that cannot be written.
   */
  function journaled(entry: Queued, bytes: Buffer, passphrase: string | null): { journaled: boolean; mark?: Ticket } {
    const journal = deps.journal;
    if (!journal || !journal.usable || (deps.openSessions?.() ?? 1) > 1 || bytes.length > journal.maxPayload / 2) return { journaled: false };
    const sealed = store.messages.seal(bytes);
    let ticket: Ticket;
    try {
      ticket = journal.append(journalRecord(store.messages.seal(Buffer.from(JSON.stringify({ entry, passphrase } satisfies JournalHead), 'utf8')), sealed));
    } catch (e) {
      log.error({ queueId: entry.queueId, err: (e as Error).message }, 'acceptance journal not written; the message is committed to the spool directly');
      // the record may be whole on disk all the same: the direct commit marks it applied, so no start replays it
      const at = e instanceof JournalWriteError ? e.ticket : null;
      return at ? { journaled: false, mark: at } : { journaled: false };
    }
    void applyJournaled(ticket, entry, sealed, passphrase, bytes);
    return { journaled: true };
  }

  /**
   * A journal record into LMDB, with its applied mark, in the next group commit or within JOURNAL_APPLY_MS; the
   * journal may drop it once LMDB has synced it. Never rejects: the record is on disk already; a failed write is tried again in 5 s
   * (and the record is replayed at the next start). Applying a record already marked does nothing (a commit
   * whose sync then failed is not applied twice by the retry).
   */
  function applyJournaled(ticket: Ticket, entry: Queued, sealed: Buffer, passphrase: string | null, plain?: Buffer): Promise<void> {
    return commits.within(JOURNAL_APPLY_MS, () => {
      if (store.meta.get(journalMark(ticket)) === entry.queueId) return;
      spoolAccepted(entry, { sealed }, passphrase);
      store.meta.put(journalMark(ticket), entry.queueId);
    }).then(() => {
      queued(entry, plain);
      store.durable().then(() => deps.journal?.settled(ticket), () => undefined);
    }, (e: Error) => {
      if (e.message === COMMITTER_CLOSED) return; // shutting down: replayed at the next start
      log.error({ queueId: entry.queueId, err: e.message }, 'journaled message not written to the spool yet; tried again in 5 s');
      setTimeout(() => void applyJournaled(ticket, entry, sealed, passphrase), 5000).unref();
    });
  }

  /**
   * At start, before any record is written: applies the records LMDB has no mark for (a mark holds its
   * message's queue id, so one left by another run at the same place does not count), syncs LMDB (also what a
   * killed gateway committed without a sync), deletes the old segments, then their marks. A record that cannot
   * be read or applied keeps its segment, and that segment's marks.
   */
  async function replay(records: (Ticket & RecordRead)[]): Promise<number> {
    const todo: { ticket: Ticket; head: JournalHead; sealed: Buffer }[] = [];
    const unreadable = new Set<number>();
    const cannot = (r: Ticket, e: unknown) => {
      unreadable.add(r.segment);
      log.error({ segment: r.segment, offset: r.offset, err: (e as Error).message }, 'a journal record cannot be read or applied (damaged, or sealed with a master key no longer in the ring); its segment stays in dataDir/journal');
    };
    for (const r of records) {
      if (r.damaged) {
        cannot(r, new Error('the record fails its checksum (damaged on disk); the records after it are read'));
        continue;
      }
      try {
        const { sealedHead, sealedBytes } = readJournalRecord(r.payload);
        const head = parseJournalHead(store.messages.unseal(sealedHead));
        // a mark names the message it was written for: one left by another run at the same place is not this record's
        if (store.meta.get(journalMark(r)) !== head.entry.queueId) todo.push({ ticket: r, head, sealed: sealedBytes });
      } catch (e) {
        cannot(r, e);
      }
    }
    // one job per record, in one synced group commit: a record that cannot be applied keeps its own segment
    const applied = await Promise.all(todo.map(({ ticket, head, sealed }) => commits.durable(() => {
      spoolAccepted(head.entry, { sealed }, head.passphrase, new Date(head.entry.receivedAt));
      store.meta.put(journalMark(ticket), head.entry.queueId);
    }).then(() => true, (e: unknown) => { cannot(ticket, e); return false; })));
    await commits.durable(() => store.meta.put(JOURNAL_REPLAYED, Date.now()));
    if (todo.length) indexSoon();
    const journal = deps.journal;
    if (journal) {
      // the segments still on disk (one with a record that cannot be read, or not deleted) keep their marks;
      // every other segment and mark goes
      const keep = journal.dropLeftOver(unreadable).map((segment) => segmentMarks(segment));
      const marks = [...store.meta.getKeys({ start: JOURNAL_MARK, end: JOURNAL_MARK + '~' })].filter((k) => !keep.some((r) => (k as string) >= r.start && (k as string) < r.end));
      if (marks.length) await commits.durable(() => { for (const k of marks) void store.meta.remove(k as string); });
    }
    return applied.filter(Boolean).length;
  }

  /** A journal segment is gone: its applied marks go too. */
  function dropMarks(segment: number): void {
    if (closing) return; // the next start drops them
    void commits.batched(() => {
      for (const k of store.meta.getKeys(segmentMarks(segment))) void store.meta.remove(k as string);
    }).catch((e: Error) => log.warn({ err: e.message }, 'journal marks not dropped yet; they are dropped at the next start'));
  }

  /** After an acceptance: the index entries its audit records deferred, in the next batch. */
  let indexQueued = false;
  function indexSoon(): void {
    if (indexQueued) return;
    indexQueued = true;
    void commits.batched(() => { indexQueued = false; indexAuditTail(store); }).catch((e: Error) => {
      indexQueued = false;
      log.error({ err: e.message }, 'audit index entries not written yet; the next append writes them');
    });
  }

  /** Scan and policy before the reply: a 550 when every recipient is refused, else spooled with the decisions. */
  async function acceptDecided(env: Received, bytes: Buffer, passphrase: string | null, set: PolicySet, now: number): Promise<void> {
    const c = deps.config();
    const scan = await deps.scan(Buffer.from(bytes)); // a copy: the pool may move its buffer to the worker
    const decisions = evaluate(set, policyMessage(env, bytes, scan), env.recipients);
    const decided = [scannedEvent(env, scan), ...decisions.map((d) => policyEvent(env, d, set.version))];
    const notices = ruleNotices(c, env, decisions, now);
    if (decisions.every((d) => d.route.action === 'reject')) {
      const reasons = [...new Set(decisions.map((d) => d.route.reason ?? 'not allowed'))].join('; ');
      await commits.durable(() => {
        for (const n of notices) spoolMade(store, n, now);
        for (const e of decided) appendInTxn(store, e, undefined, AT_DATA);
        appendInTxn(store, {
          event: 'rejected', queueId: env.queueId, messageId: env.messageId, sender: env.sender, recipients: env.recipients,
          details: { listener: env.client.listener, clientIp: env.client.clientIp, user: env.client.user ?? null, size: env.size, sha256: env.sha256, reason: 'policy', rules: [...new Set(decisions.map((d) => d.rule.id))], reply: '550 5.7.1' },
        }, undefined, AT_DATA);
      });
      indexSoon();
      for (const n of notices) scheduler.schedule(n.env.queueId, now);
      log.info({ queueId: env.queueId, listener: env.client.listener, recipients: env.recipients.length }, 'refused by policy');
      throw new SmtpReplyError({ code: 550, enhanced: '5.7.1', text: `Message refused by policy: ${reasons}` });
    }
    const entry = newEntry(env, env.receivedAt);
    applyDecisions(entry, decisions);
    await commits.durable(() => {
      spoolAccepted(entry, { plain: bytes }, passphrase);
      store.meta.put(SCAN_PREFIX + env.queueId, scan);
      for (const e of decided) appendInTxn(store, e, undefined, AT_DATA);
      for (const n of notices) spoolMade(store, n, now);
    });
    indexSoon();
    log.info({ queueId: env.queueId, listener: env.client.listener, recipients: env.recipients.length, size: env.size, phi: scan.phi, policy: set.version }, 'queued');
    scheduler.schedule(env.queueId, deps.now());
    for (const n of notices) scheduler.schedule(n.env.queueId, now);
  }

  /**
   * The decision for a message queued undecided, made before its first delivery with the policy set in force
   * then. What it writes (its scan and `scanned` event, which `inspected` left in `pre`, the routes, the `policy`
   * events, rule notices) rides in the next group commit, or commits within COMMIT_WINDOWS.lazyMs: in the same
   * group as, or ahead of, an encrypted copy's synced commit and this attempt's outcome, so the audit reads
   * scanned, policy, then the delivery. The send does not wait for it (nor for the outcome's batch): a crash
   * before it lands means the message is decided and sent again after the restart (at least once, as for a
   * batched outcome), and only the second sending is in the audit.
   * False when the message's bytes are gone.
   */
  function decideQueued(entry: Queued, ins: Inspected, pre: PendingWrites): boolean {
    const bytes = pre.plain();
    if (!bytes) return false;
    const set = deps.policy();
    const now = deps.now();
    const decisions = evaluate(set, policyMessage(entry, bytes, ins.scan), entry.recipients);
    applyDecisions(entry, decisions);
    delete entry.undecided;
    const scanWrites = pre.writes.splice(0);
    const events = [...pre.events.splice(0), ...decisions.map((d) => policyEvent(entry, d, set.version))];
    const notices = ruleNotices(deps.config(), entry, decisions, now);
    const decided = structuredClone(entry);
    void commits.lazy(() => {
      for (const w of scanWrites) w();
      for (const e of events) appendInTxn(store, e);
      for (const n of notices) spoolMade(store, n, now);
      updateInTxn(store, decided);
    }).then(
      () => { for (const n of notices) scheduler.schedule(n.env.queueId, now); },
      (e: Error) => log.error({ queueId: entry.queueId, err: e.message }, 'policy decision not written; it is made again at the next attempt'),
    );
    return true;
  }

  /** The scan of a message, made at DATA or before its first delivery and kept beside it; our own DSNs and notices are not scanned. */
  async function inspected(entry: Queued, pre: PendingWrites): Promise<Inspected | null> {
    const kept = store.meta.get(SCAN_PREFIX + entry.queueId) as ScanFacts | undefined;
    if (kept) return { ...entry, scan: kept };
    if (entry.kind !== 'message') {
      const none: ScanFacts = { phi: false, score: 0, reasons: [`internal-${entry.kind}`], findings: [], unscanned: [], scanMs: 0, bytesScanned: 0 };
      return { ...entry, scan: none };
    }
    // queued undecided (or by an older version, without its scan): scanned now, in a worker, fail closed as ever
    const bytes = pre.plain();
    if (!bytes) return null;
    const scan = await deps.scan(Buffer.from(bytes), { background: true }); // a copy: the pool takes its buffer
    // shutting down is not the message's fault: nothing is kept, and the next start scans it again
    if (scan.reasons.includes(SCANNER_STOPPED)) throw new Error('the scanner stopped before this message was scanned; it is scanned at the next start');
    pre.writes.push(() => store.meta.put(SCAN_PREFIX + entry.queueId, scan));
    pre.events.push(scannedEvent(entry, scan));
    return { ...entry, scan };
  }

  /**
   * The bytes one group of recipients gets: the rule's edits, then (for one recipient) OpenPGP or S/MIME
   * encryption, then DKIM; built once. A plain copy is kept for retries; an encrypted copy is spooled durably
   * before it is sent, so a crash never encrypts or delivers it twice under different bytes.
   */
  async function prepared(entry: Inspected, copy: CopySpec, pre: PendingWrites): Promise<Prepared | null> {
    const variant = changesKey(copy.changes) + (copy.via ? `\0${copy.via}\0${copy.recipient}` : '');
    const key = OUT_PREFIX + entry.queueId + (variant ? `#${createHash('sha256').update(variant).digest('hex').slice(0, 12)}` : '');
    const cached = store.messages.get(key);
    const meta = store.meta.get(key) as DkimResult | undefined;
    if (cached && meta) return { ...entry, outBytes: cached, dkim: meta };
    const original = pre.plain();
    if (!original) return null;
    const c = deps.config();
    const edited = applyChanges(original, copy.changes);
    const sealed = copy.via ? await encryptCopy(edited, copy.via, copy.material!, deps.keys, c.encryption.subject) : null;
    const signed = await dkimSignBytes(sealed?.bytes ?? edited, entry.fromDomain, deps.dkimKeys());
    const dkimEvent: AuditInput | null = signed.dkim.signed ? {
      event: 'dkim-signed', queueId: entry.queueId, messageId: entry.messageId, sender: entry.sender,
      details: { domain: signed.dkim.domain, selector: signed.dkim.selector, algorithm: signed.dkim.algorithm, ...(variant ? { variant: key.slice(key.indexOf('#') + 1) } : {}) },
    } : null;
    if (sealed) {
      // the fallback that led here is written with the copy, before it, so the audit reads in order
      const why = pre.events.filter((e) => e.event === 'route-fallback' && e.recipient === copy.recipient);
      pre.events = pre.events.filter((e) => !why.includes(e));
      await commits.durable(() => {
        for (const e of why) appendInTxn(store, e);
        store.messages.put(key, signed.bytes);
        store.meta.put(key, signed.dkim);
        appendInTxn(store, { event: 'encrypted', queueId: entry.queueId, messageId: entry.messageId, sender: entry.sender, recipient: copy.recipient, details: { method: copy.via, ...sealed.facts, bytes: signed.bytes.length } });
        if (dkimEvent) appendInTxn(store, dkimEvent);
      });
      return { ...entry, outBytes: signed.bytes, dkim: signed.dkim };
    }
    // kept for retries only: a message delivered at the first attempt never stores a second copy
    pre.keepIfQueued.push(() => {
      store.messages.put(key, signed.bytes);
      store.meta.put(key, signed.dkim);
    });
    if (dkimEvent) pre.events.push(dkimEvent);
    return { ...entry, outBytes: signed.bytes, dkim: signed.dkim };
  }

  /** What one recipient's copy needs from the key stores (looked up once per attempt). */
  async function materialFor(due: RecipientStatus[]): Promise<Map<string, Material>> {
    const out = new Map<string, Material>();
    await Promise.all(due.filter((s) => s.route?.action === 'encrypt').map(async (s) => {
      const [pgp, smime] = await Promise.all([deps.keys.pgpKeyFor(s.address), deps.keys.smimeCertFor(s.address)]);
      out.set(s.address, { pgp, smime });
    }));
    return out;
  }

  async function processEntry(queueId: string): Promise<void> {
    await settling.get(queueId);
    const wait = notBefore.get(queueId);
    if (wait !== undefined) {
      if (wait > deps.now()) return scheduler.schedule(queueId, wait);
      notBefore.delete(queueId);
    }
    const entry = getEntry(store, queueId);
    if (!entry) {
      fresh.take(queueId);
      return;
    }
    const c = deps.config();
    const now = deps.now();
    const due = entry.status.filter((s) => (s.state === 'pending' || s.state === 'deferred') && s.nextAttemptAt <= now);
    if (!due.length) return reschedule(entry);
    let plain: Buffer | undefined | null = null;
    const pre: PendingWrites = { created: [], writes: [], keepIfQueued: [], events: [], plain: () => (plain === null ? (plain = fresh.take(queueId) ?? getBytes(store, queueId)) : plain) };
    const ins = await inspected(entry, pre);
    if (ins && entry.undecided) decideQueued(entry, ins, pre);
    if (!ins || entry.undecided) {
      log.error({ queueId }, 'queue entry has no message bytes; recipients bounced');
      return finish(entry, due.map((s) => ({ address: s.address, outcome: 'bounced', reply: 'message bytes missing from the spool', reason: 'spool-missing' })), [], null, pre);
    }
    const floor = (a: string): TlsLevel => tlsLevelFor(domainOf(a), c.outbound.tls);
    const material = await materialFor(due);
    const available: MethodAvailability = (m, r) => {
      if (m === 'tls') return null;
      if (m === 'pgp') return material.get(r)?.pgp ? null : 'no OpenPGP key for the recipient';
      if (m === 'smime') return material.get(r)?.smime ? null : 'no S/MIME certificate for the recipient';
      return deps.portal ? null : 'the secure portal is not configured on this gateway (portal.listen)';
    };
    const outcomes: RecipientOutcome[] = [];
    const results: (Attempted & { attempts?: unknown[]; mtaSts?: string })[] = [];
    let dkim: DkimResult | null = null;
    const deliverDeps: DeliverDeps = { resolver: deps.resolver, pool, routes: c.outbound.routes };
    // round 1 sends every due recipient its way; a verified-TLS failure moves a recipient to its next method and
    // round 2 (at most one per method) sends it that way at once, instead of after the retry schedule
    let todo = due.map((s) => ({ s, plan: planFor(s.route, s.address, floor(s.address), s.method ?? 0, available) }));
    for (let round = 0; todo.length && round < 5; round++) {
      const groups = new Map<string, { domain: string; level: TlsLevel; copy: CopySpec; plans: Map<string, Plan & { kind: 'send' }>; recipients: string[] }>();
      const portalBound: { s: RecipientStatus; plan: Plan & { kind: 'send' } }[] = [];
      for (const { s, plan } of todo) {
        if (plan.kind === 'bounce') { outcomes.push({ address: s.address, outcome: 'bounced', reply: plan.reply, reason: plan.reason }); continue; }
        if (plan.kind === 'hold') { outcomes.push({ address: s.address, outcome: 'held', reply: plan.reason, reason: 'held', ...(plan.method !== undefined ? { method: plan.method } : {}) }); continue; }
        const domain = domainOf(s.address);
        const encrypted = plan.via === 'pgp' || plan.via === 'smime';
        // an encrypted copy is one recipient's own; plain copies are shared by recipients with the same edits
        if (plan.via === 'portal') { portalBound.push({ s, plan }); continue; }
        const copy: CopySpec = { changes: plan.changes, via: encrypted ? plan.via as 'pgp' | 'smime' : null, recipient: encrypted ? s.address : null, material: material.get(s.address) ?? null };
        const k = `${domain}\0${plan.level}\0${changesKey(plan.changes)}\0${copy.via ?? ''}\0${copy.recipient ?? ''}`;
        const g = groups.get(k) ?? { domain, level: plan.level, copy, plans: new Map<string, Plan & { kind: 'send' }>(), recipients: [] as string[] };
        g.recipients.push(s.address);
        g.plans.set(s.address, plan);
        groups.set(k, g);
      }
      const next: typeof todo = [];
      await Promise.all([...groups.values()].filter((g) => g.copy.via === null || g.copy.via === 'pgp' || g.copy.via === 'smime').map(async (g) => {
        let out: Prepared | null;
        try {
          out = await prepared(ins, g.copy, pre);
        } catch (e) {
          // an encryption that fails (a key that openpgp refuses) is this method failing: try the next one
          for (const a of g.recipients) {
            const s = due.find((x) => x.address === a)!;
            const plan = g.plans.get(a)!;
            const reason = `${plan.via} encryption failed: ${(e as Error).message}`;
            pre.events.push({ event: 'route-fallback', queueId, messageId: entry.messageId, sender: entry.sender, recipient: a, details: { from: plan.via, reason } });
            next.push({ s, plan: planFor(s.route, a, floor(a), (plan.method ?? 0) + 1, available, [reason]) });
          }
          return;
        }
        if (!out) {
          for (const a of g.recipients) outcomes.push({ address: a, outcome: 'bounced', reply: 'message bytes missing from the spool', reason: 'spool-missing' });
          return;
        }
        dkim ??= out.dkim;
        const mtaSts = deps.mtaSts && c.outbound.mtaSts && routeFor(g.domain, c.outbound.routes) === 'mx' ? await deps.mtaSts(g.domain) : null;
        const r = await deliverBatch({ queueId, domain: g.domain, sender: entry.sender, recipients: g.recipients, bytes: out.outBytes, level: g.level, mtaSts }, deliverDeps);
        results.push(r);
        for (const o of r.outcomes) {
          const plan = g.plans.get(o.address)!;
          const withMethod = plan.method === undefined ? o : { ...o, method: plan.method };
          if (plan.via !== 'tls' || o.outcome !== 'deferred' || !isTlsRequirementFailure(o.reason)) { outcomes.push(withMethod); continue; }
          // verified TLS could not be had: the next method now, not after the retry schedule
          const s = due.find((x) => x.address === o.address)!;
          const after = planFor(s.route, s.address, floor(s.address), plan.method! + 1, available, [`verified TLS failed (${o.reason})`]);
          pre.events.push({
            event: 'route-fallback', queueId, messageId: entry.messageId, sender: entry.sender, recipient: o.address,
            details: { from: 'tls', reason: o.reason, reply: o.reply, to: after.kind === 'send' ? after.via : 'held' },
          });
          next.push({ s, plan: after });
        }
      }));
      // the portal keeps the copy; the recipient gets a notification (no PHI) through the normal delivery path
      for (const { s, plan } of portalBound) {
        const copy = applyChanges(pre.plain() ?? Buffer.alloc(0), plan.changes);
        const pass = store.messages.get(DERIVED.passphrase + queueId)?.toString('utf8');
        const d = await deps.portal!.deposit({ bytes: copy, entry, recipient: s.address, ...(pass ? { passphrase: pass } : {}) });
        const notice = { bytes: d.notice.bytes, env: internalEnv(c, d.notice.messageId, s.address, d.notice.bytes, now) };
        pre.created.push(notice);
        pre.events.push({ event: 'portal-stored', queueId, messageId: entry.messageId, sender: entry.sender, recipient: s.address, details: { portalId: d.portalId, expiresAt: new Date(d.expiresAt).toISOString(), notificationQueueId: notice.env.queueId } });
        outcomes.push({ address: s.address, outcome: 'delivered', reply: `kept in the secure portal (${d.portalId}); the recipient was sent a notification`, reason: 'portal', ...(plan.method !== undefined ? { method: plan.method } : {}) });
      }
      todo = next;
    }
    return finish(entry, outcomes, results, dkim ? { dkim } : null, pre);
  }

  /** One write transaction per attempt: the scan, the signed copies, the outcome, DSNs and notices land together. */
  async function finish(entry: Queued, outcomes: RecipientOutcome[], results: (Attempted & { attempts?: unknown[]; mtaSts?: string })[], out: { dkim: DkimResult } | null, pre: PendingWrites): Promise<void> {
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
          tlsVerified: r.hop?.tls.verified ?? false, mtaSts: r.mtaSts ?? null, dkim: out?.dkim.signed ? out.dkim.domain : null, hopsTried: r.attempts ?? [],
        },
      });
    }
    const hopOf = new Map<string, Attempted['hop']>();
    for (const r of results) for (const o of r.outcomes) hopOf.set(o.address, r.hop);
    const bounced: { status: RecipientStatus; outcome: RecipientOutcome; status3463: string }[] = [];
    const held: { status: RecipientStatus; reason: string }[] = [];
    const status = entry.status.map((s) => ({ ...s }));
    for (const o of outcomes) {
      const s = status.find((x) => x.address === o.address)!;
      s.updatedAt = now;
      if (o.method !== undefined) s.method = o.method;
      if (o.outcome === 'held') {
        s.state = 'held';
        s.heldReason = o.reply;
        events.push({ event: 'held', ...base, recipient: o.address, details: { reason: o.reply, rule: s.route?.rule ?? null, action: s.route?.action ?? null } });
        held.push({ status: s, reason: o.reply });
        continue;
      }
      s.attempts += 1;
      s.lastReply = o.reply;
      const hop = hopOf.get(o.address) ?? null;
      if (o.outcome === 'delivered') {
        s.state = 'delivered';
        events.push({ event: 'delivered', ...base, recipient: o.address, details: { host: hop?.host, ip: hop?.ip, port: hop?.port, tlsProtocol: hop?.tls.protocol ?? null, tlsCipher: hop?.tls.cipher ?? null, tlsVerified: hop?.tls.verified ?? false, tlsRequired: hop?.tls.required, reply: o.reply, rule: s.route?.rule ?? null, method: s.route?.action === 'encrypt' ? s.route.methods?.[s.method ?? 0] ?? null : null } });
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
        events.push({ event: 'bounced', ...base, recipient: o.address, details: { reason, status: st, reply, host: hop?.host ?? null, ...(reason === 'policy-rejected' ? { rule: s.route?.rule ?? null } : {}) } });
        bounced.push({ status: s, outcome: { ...o, reply, reason }, status3463: st });
      } else {
        s.state = 'deferred';
        s.nextAttemptAt = nextAttempt(entry, s.attempts, now, c);
        events.push({ event: 'deferred', ...base, recipient: o.address, details: { reason, reply, attempts: s.attempts, nextAttemptAt: new Date(s.nextAttemptAt).toISOString(), host: hop?.host ?? null, tlsRequired: hop?.tls.required ?? null } });
      }
    }
    const updated: Queued = { ...entry, status };
    const created: { env: Received; bytes: Buffer }[] = [...pre.created];
    if (bounced.length && entry.sender !== '' && entry.kind === 'message') {
      const original = pre.plain() ?? Buffer.alloc(0);
      const built = buildDsn({
        reportingMta: c.hostname, queueId: entry.queueId, originalSender: entry.sender, arrival: new Date(entry.receivedAt),
        recipients: bounced.map((b) => ({ address: b.status.address, status: b.status3463, reply: b.outcome.reply, remoteMta: hopOf.get(b.status.address)?.host, lastAttempt: nowDate })),
        originalHeaders: headerBlockOf(original), now: nowDate,
      });
      const env = internalEnv(c, built.messageId, entry.sender, built.bytes, now, 'dsn');
      const dsnId = env.queueId;
      created.push({ bytes: built.bytes, env });
      events.push({ event: 'dsn-sent', ...base, recipients: bounced.map((b) => b.status.address), details: { dsnQueueId: dsnId, dsnMessageId: built.messageId, to: entry.sender } });
    }
    // the sender is told about a hold, unless the rule's own notify already told them
    const tell = held.filter((h) => !(h.status.route?.action === 'quarantine' && ruleTellsSender(h.status.route)));
    if (tell.length && entry.sender !== '' && entry.kind === 'message') {
      const n = noticeEntry(c, entry, entry.sender, 'Your message was held and has not been delivered', tell.map((h) => `<${h.status.address}>: ${h.reason}`), undefined, now);
      created.push(n);
      events.push({ event: 'notice-sent', ...base, recipients: tell.map((h) => h.status.address), details: { noticeQueueId: n.env.queueId, to: entry.sender, why: 'held' } });
    }
    const done = isFinished(updated);
    // Committed in the next batch of outcomes, not waited for here: the delivery slot is free for the next message
    // at once. A crash before the batch lands means another attempt (at least once), never a loss.
    const landed = commits.batched(() => {
      for (const w of pre.writes) w();
      if (!done) for (const w of pre.keepIfQueued) w();
      for (const n of created) spoolMade(store, n, now);
      for (const e of events) appendInTxn(store, e);
      if (done) {
        removeInTxn(store, entry.queueId);
      } else updateInTxn(store, updated);
    }).then(() => {
      for (const o of outcomes) log.info({ queueId: entry.queueId, outcome: status.find((s) => s.address === o.address)?.state, reason: o.reason }, 'delivery');
      for (const n of created) scheduler.schedule(n.env.queueId, now);
      if (!done) reschedule(updated);
    }, (e: Error) => {
      // the entry on disk is as before this attempt: it is made again
      log.error({ queueId: entry.queueId, err: e.message }, 'delivery outcome not written; the message is tried again (in a minute, or at the next start)');
      const at = deps.now() + 60_000;
      notBefore.set(entry.queueId, at);
      scheduler.schedule(entry.queueId, at);
    }).finally(() => {
      if (settling.get(entry.queueId) === landed) settling.delete(entry.queueId);
    });
    settling.set(entry.queueId, landed);
  }

  function reschedule(entry: Queued): void {
    const open = entry.status.filter((s) => s.state === 'pending' || s.state === 'deferred');
    if (!open.length) return;
    scheduler.schedule(entry.queueId, Math.min(...open.map((s) => s.nextAttemptAt)));
  }

  function rescan(): void {
    for (const e of listEntries(store)) reschedule(e);
  }

  async function submitInternal(to: string, messageId: string, bytes: Buffer): Promise<string> {
    const now = deps.now();
    const env = internalEnv(deps.config(), messageId, to, bytes, now);
    await commits.durable(() => spoolMade(store, { env, bytes }, now));
    scheduler.schedule(env.queueId, now);
    return env.queueId;
  }

  let closing = false;
  deps.journal?.onRemoved(dropMarks);

  return {
    accept,
    submitInternal,
    rescan,
    replay,
    scheduler,
    async stop(timeoutMs) {
      await scheduler.stop(timeoutMs);
      closing = true;
      await commits.flush();
      // Deliveries still running at the bound are cut off (their connections closed) so the process can exit;
      // nothing was recorded for them, so their messages stay queued and go out after the restart.
      if (scheduler.inFlight) {
        log.warn({ deliveries: scheduler.inFlight }, 'shutdown bound reached: aborting deliveries in progress; their messages stay queued');
        pool.abortAll();
        await scheduler.stop(1000);
      }
      // what a delivery still running after this would write is not written: it is made again after the restart
      await commits.close();
      pool.closeAll();
    },
  };
}
