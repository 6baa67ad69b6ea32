// Owns one delivery attempt of one message to the recipients of one destination domain: resolve next hops,
// apply the destination's MTA-STS policy to its MX hosts, try them in order with the TLS level the domain
// demands, and turn what happened into per-recipient outcomes.
import type { Attempted, HopFacts, RecipientOutcome } from '../envelope.js';
import type { TlsLevel } from '../config/schema.js';
import { resolveNextHops, type Resolver } from './route.js';
import { classify, describeFailure, type RemoteFailure } from './classify.js';
import { meetsLevel, tlsFailureReason } from './tls-policy.js';
import { toFailure, type SessionPool } from './client.js';
import { stsDecision, type CachedPolicy } from './mta-sts.js';

export interface DeliverDeps {
  resolver: Resolver & { lookup(host: string): Promise<string[]> };
  pool: SessionPool;
  routes: Record<string, string>;
}

export interface Batch {
  queueId: string;
  domain: string;
  sender: string;
  recipients: string[];
  bytes: Buffer;
  level: TlsLevel;
  /** the destination's MTA-STS policy (RFC 8461), when it has one; applies to MX hosts only */
  mtaSts?: CachedPolicy | null;
}

const allWith = (rcpts: string[], outcome: RecipientOutcome['outcome'], reply: string, reason: string): RecipientOutcome[] =>
  rcpts.map((address) => ({ address, outcome, reply, reason }));

function failureOutcome(f: RemoteFailure, level: TlsLevel): { outcome: 'deferred' | 'bounced'; reason: string } {
  const c = classify(f);
  if (c.reason === 'tls-failed') return { outcome: 'deferred', reason: level === 'verify' ? tlsFailureReason(f.message, f.response) : 'tls-unavailable' };
  return c;
}

/** One attempt; every recipient of the batch gets an outcome. Hop failures fall through to the next hop. */
export async function deliverBatch(b: Batch, deps: DeliverDeps): Promise<Attempted & { attempts: { host: string; ip: string | null; error?: string; reason?: string }[]; mtaSts?: string }> {
  const tried: { host: string; ip: string | null; error?: string; reason?: string }[] = [];
  const route = await resolveNextHops(b.domain, deps.routes, deps.resolver);
  if (!route.ok) {
    return { queueId: b.queueId, hop: null, outcomes: allWith(b.recipients, route.permanent ? 'bounced' : 'deferred', route.reason, route.permanent ? 'no-route' : 'dns'), attempts: tried };
  }
  // MTA-STS: in enforce mode only the MX hosts the policy lists, and only over verified TLS; testing is recorded
  const viaMx = route.hops.filter((h) => h.viaMx).map((h) => h.host);
  const sts = viaMx.length && b.mtaSts ? stsDecision(b.mtaSts, viaMx) : null;
  let hops = route.hops;
  let level = b.level;
  if (sts?.mode === 'testing' && sts.refused.length) {
    for (const host of sts.refused) tried.push({ host, ip: null, reason: 'mta-sts-testing', error: `MTA-STS (testing) would refuse ${host}: not in the policy's mx list` });
  }
  if (sts?.mode === 'enforce') {
    level = 'verify';
    hops = route.hops.filter((h) => !h.viaMx || sts.allowed.includes(h.host));
    if (!hops.length) {
      const reply = `MTA-STS policy of ${b.domain} (enforce) lists none of its MX hosts (${viaMx.join(', ')}); not sent`;
      for (const host of sts.refused) tried.push({ host, ip: null, reason: 'mta-sts-mx-mismatch', error: 'not in the MTA-STS policy' });
      return { queueId: b.queueId, hop: null, outcomes: allWith(b.recipients, 'deferred', reply, 'mta-sts-mx-mismatch'), attempts: tried, mtaSts: sts.mode };
    }
  }
  b = { ...b, level };
  let last: { failure: RemoteFailure; hop: HopFacts | null } | null = null;
  for (const hop of hops) {
    let ips: string[];
    try {
      ips = /^[\d.]+$|:/.test(hop.host) ? [hop.host] : await deps.resolver.lookup(hop.host);
    } catch (e) {
      tried.push({ host: hop.host, ip: null, error: (e as Error).message, reason: 'dns' });
      last = { failure: { code: 'EDNS', message: `cannot resolve ${hop.host}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }, hop: null };
      continue;
    }
    for (const ip of ips) {
      const facts: HopFacts = { host: hop.host, ip, port: hop.port, tls: { protocol: null, cipher: null, verified: false, required: b.level } };
      let session;
      try {
        session = await deps.pool.acquire(hop.host, ip, hop.port, b.level);
      } catch (e) {
        const f = toFailure(e);
        const o = failureOutcome(f, b.level);
        tried.push({ host: hop.host, ip, error: describeFailure(f), reason: o.reason });
        last = { failure: f, hop: facts };
        // a 5xx greeting is permanent for this hop only; other hops may still take the mail
        continue;
      }
      facts.tls = { protocol: session.facts.protocol, cipher: session.facts.cipher, verified: session.facts.verified, required: b.level };
      if (!meetsLevel(b.level, session.facts)) {
        deps.pool.release(session, false);
        const f: RemoteFailure = { code: 'ETLS', message: `TLS requirement "${b.level}" not met by ${hop.host}` };
        tried.push({ host: hop.host, ip, error: f.message, reason: 'tls-unavailable' });
        last = { failure: f, hop: facts };
        continue;
      }
      try {
        const info = await deps.pool.send(session, b.sender, b.recipients, b.bytes);
        deps.pool.release(session, true);
        const outcomes: RecipientOutcome[] = [];
        const rejected = new Map((info.rejectedErrors ?? []).map((e) => [(e as { recipient?: string }).recipient ?? '', e]));
        for (const address of b.recipients) {
          if (info.accepted.includes(address)) outcomes.push({ address, outcome: 'delivered', reply: info.response, reason: 'accepted' });
          else {
            const f = toFailure(rejected.get(address) ?? { message: 'recipient rejected' });
            const o = failureOutcome(f, b.level);
            outcomes.push({ address, outcome: o.outcome, reply: describeFailure(f), reason: o.reason });
          }
        }
        return { queueId: b.queueId, hop: facts, outcomes, attempts: tried, ...(sts ? { mtaSts: sts.mode } : {}) };
      } catch (e) {
        const f = toFailure(e);
        deps.pool.release(session, false);
        // The server spoke SMTP and answered this transaction: its verdict stands, no other hop is tried.
        if (f.responseCode) {
          const rejected = new Map(((e as { rejectedErrors?: unknown[] }).rejectedErrors ?? []).map((x) => [(x as { recipient?: string }).recipient ?? '', x]));
          const outcomes = b.recipients.map((address): RecipientOutcome => {
            const rf = rejected.has(address) ? toFailure(rejected.get(address)) : f;
            const o = failureOutcome(rf, b.level);
            return { address, outcome: o.outcome, reply: describeFailure(rf), reason: o.reason };
          });
          return { queueId: b.queueId, hop: facts, outcomes, attempts: tried, ...(sts ? { mtaSts: sts.mode } : {}) };
        }
        tried.push({ host: hop.host, ip, error: describeFailure(f), reason: failureOutcome(f, b.level).reason });
        last = { failure: f, hop: facts };
      }
    }
  }
  const f = last?.failure ?? { message: 'no next hop could be tried' };
  const o = failureOutcome(f, b.level);
  // Failing to reach any hop is never permanent by itself: like Postfix's smtp_skip_5xx_greeting, even a 5xx
  // greeting or EHLO reply defers (another day, or another MX, may work); maxAge bounds the retries.
  return { queueId: b.queueId, hop: last?.hop ?? null, outcomes: allWith(b.recipients, 'deferred', describeFailure(f), o.outcome === 'bounced' ? 'remote-5xx-greeting' : o.reason), attempts: tried, ...(sts ? { mtaSts: sts.mode } : {}) };
}
