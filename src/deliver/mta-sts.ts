// Owns MTA-STS (RFC 8461) for outbound delivery: the policy-file parser, MX pattern matching, policy discovery
// with a cache (TXT at _mta-sts.<domain>, then HTTPS), the HTTPS fetcher, and the small pure decision of which
// MX hosts a policy allows. DNS, HTTPS, the clock and the cache come in through deps (deliver.ts applies the
// decision; gateway.ts wires discovery and the cache).
//
// mailauth 4.13.3 (lib/mta-sts.js) has parsePolicy and validateMx, but neither fits: its parser defaults a
// missing `mode` to none and lowercases keys and values, and its validateMx treats `*.example.com` as a suffix
// match (so it accepts a.b.example.com, which §4.1 forbids) and ignores trailing dots. Its fetcher is not
// injectable. So the pieces below are ours.
import { httpsGet } from '../https-get.js';

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy { version: 'STSv1'; mode: StsMode; mx: string[]; maxAgeS: number }

/** A policy as cached: `id` from the TXT record, `fetchedAt` in ms since the epoch (deps.now()). */
export interface CachedPolicy { id: string; mode: StsMode; mx: string[]; maxAgeS: number; fetchedAt: number }

export interface MtaStsDeps {
  /** Like dns.promises.resolveTxt: one array of strings per record. */
  resolveTxt(name: string): Promise<string[][]>;
  /** The body of https://mta-sts.<domain>/.well-known/mta-sts.txt, or a rejection (see httpsPolicyFetcher). */
  fetchPolicy(domain: string): Promise<string>;
  /** ms since the epoch */
  now(): number;
  cache: { get(domain: string): CachedPolicy | undefined; put(domain: string, p: CachedPolicy): void };
}

export interface PolicyLookup { policy: CachedPolicy | null; source: 'none' | 'cache' | 'fetched'; problem?: string }

export interface StsDecision { mode: StsMode; allowed: string[]; refused: string[]; requireVerify: boolean }

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year). */
export const MAX_AGE_LIMIT_S = 31_557_600;
/** The largest policy body httpsPolicyFetcher accepts (§3.3 lets senders cap it; 64 KB is the usual cap). */
export const MAX_POLICY_BYTES = 64 * 1024;

const MODES: readonly string[] = ['enforce', 'testing', 'none'];

/**
 * Parses a policy file (§3.2): `key: value` lines separated by LF or CRLF. Field names and the version and mode
 * values are case-sensitive (%s in the ABNF). version must be STSv1; mode and max_age (0..31557600) are
 * required; mx is required unless mode is none and may repeat. For fields other than mx the first occurrence
 * wins. Unknown keys, blank lines and lines without a colon are ignored (a stray line does not cost a domain its
 * policy).
 */
export function parsePolicy(text: string): { policy?: StsPolicy; error?: string } {
  const fields = new Map<string, string>();
  const mx: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).replace(/^[ \t]+|[ \t]+$/g, '');
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (key === 'mx') {
      const pattern = value.toLowerCase().replace(/\.$/, '');
      if (pattern && !mx.includes(pattern)) mx.push(pattern);
    } else if (!fields.has(key)) fields.set(key, value);
  }
  const version = fields.get('version');
  if (version === undefined) return { error: 'policy has no version field' };
  if (version !== 'STSv1') return { error: `policy version is ${JSON.stringify(version)}, not STSv1` };
  const mode = fields.get('mode');
  if (mode === undefined) return { error: 'policy has no mode field' };
  if (!MODES.includes(mode)) return { error: `policy mode ${JSON.stringify(mode)} is not enforce, testing or none` };
  const maxAge = fields.get('max_age');
  if (maxAge === undefined) return { error: 'policy has no max_age field' };
  if (!/^\d{1,10}$/.test(maxAge) || Number(maxAge) > MAX_AGE_LIMIT_S) {
    return { error: `policy max_age ${JSON.stringify(maxAge)} is not an integer from 0 to ${MAX_AGE_LIMIT_S}` };
  }
  if (mode !== 'none' && !mx.length) return { error: `policy mode ${mode} lists no mx` };
  return { policy: { version: 'STSv1', mode: mode as StsMode, mx, maxAgeS: Number(maxAge) } };
}

const normHost = (h: string) => h.trim().toLowerCase().replace(/\.$/, '');

/**
 * §4.1: whether an MX host name matches one of a policy's mx patterns. Case-insensitive, a trailing dot is
 * ignored, and `*.example.com` matches exactly one extra leftmost label (mx.example.com, not a.b.example.com,
 * not example.com).
 */
export function mxMatches(host: string, patterns: string[]): boolean {
  const h = normHost(host);
  if (!h) return false;
  return patterns.some((raw) => {
    const p = normHost(raw);
    if (!p) return false;
    if (!p.startsWith('*.')) return p === h;
    const suffix = p.slice(1); // ".example.com"
    if (suffix.length < 2 || !h.endsWith(suffix)) return false;
    const label = h.slice(0, h.length - suffix.length);
    return label.length > 0 && !label.includes('.');
  });
}

/**
 * Which MX hosts a policy allows. enforce: only matching hosts, and their certificates must verify. testing:
 * every host is allowed, `refused` names the ones enforce would have refused (for the log and audit). none or no
 * policy: everything allowed. An enforce policy that matches no MX yields an empty `allowed` list; the caller
 * must then not deliver (defer), never fall back to the refused hosts.
 */
export function stsDecision(policy: CachedPolicy | null, mxHosts: string[]): StsDecision {
  if (!policy || policy.mode === 'none') return { mode: 'none', allowed: [...mxHosts], refused: [], requireVerify: false };
  const refused = mxHosts.filter((h) => !mxMatches(h, policy.mx));
  if (policy.mode === 'testing') return { mode: 'testing', allowed: [...mxHosts], refused, requireVerify: false };
  return { mode: 'enforce', allowed: mxHosts.filter((h) => mxMatches(h, policy.mx)), refused, requireVerify: true };
}

/** Whether a cached policy is still usable at `now` (valid until fetchedAt + max_age). */
export function cacheValid(p: CachedPolicy | undefined, now: number): p is CachedPolicy {
  return !!p && now < p.fetchedAt + p.maxAgeS * 1000;
}

type TxtResult = { kind: 'id'; id: string } | { kind: 'absent' } | { kind: 'invalid'; why: string };

/**
 * §3.1: picks the STS record out of the TXT records of _mta-sts.<domain>. Records not starting with v=STSv1 are
 * discarded; anything but exactly one left, or one without a valid id, means no live policy.
 */
export function stsRecordId(records: string[][]): TxtResult {
  const sts = records.map((r) => r.join('')).filter((r) => /^v=STSv1[ \t]*(;|$)/.test(r));
  if (!sts.length) return { kind: 'absent' };
  if (sts.length > 1) return { kind: 'invalid', why: `${sts.length} v=STSv1 TXT records (exactly one allowed)` };
  const fields = sts[0]!.split(';').map((f) => f.trim()).filter(Boolean).slice(1);
  const id = fields.find((f) => f.startsWith('id='))?.slice(3);
  if (id === undefined) return { kind: 'invalid', why: 'the TXT record has no id' };
  if (!/^[A-Za-z0-9]{1,32}$/.test(id)) return { kind: 'invalid', why: `the TXT record id ${JSON.stringify(id)} is not 1 to 32 letters or digits` };
  return { kind: 'id', id };
}

const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);

/**
 * Policy discovery (§3.1, §5.1). Looks up the TXT record; fetches the policy only when there is no unexpired
 * cached policy with the same id; stores what it fetched through deps.cache.put. When no live policy can be had
 * (TXT missing, invalid, lookup failure, fetch or parse failure) an unexpired cached policy still applies;
 * without one the domain has no policy. `problem` says what went wrong, for the audit, even when the cache
 * covered for it.
 */
export async function policyFor(domain: string, deps: MtaStsDeps): Promise<PolicyLookup> {
  const d = normHost(domain);
  const now = deps.now();
  const cachedRaw = deps.cache.get(d);
  const cached = cacheValid(cachedRaw, now) ? cachedRaw : undefined;
  const fallback = (problem?: string): PolicyLookup => {
    if (cached) return problem ? { policy: cached, source: 'cache', problem } : { policy: cached, source: 'cache' };
    return problem ? { policy: null, source: 'none', problem } : { policy: null, source: 'none' };
  };

  let txt: TxtResult;
  try {
    txt = stsRecordId(await deps.resolveTxt(`_mta-sts.${d}`));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (NOT_FOUND.has(code)) txt = { kind: 'absent' };
    else return fallback(`TXT lookup for _mta-sts.${d} failed: ${code || (e as Error).message}`);
  }
  if (txt.kind === 'absent') return fallback();
  if (txt.kind === 'invalid') return fallback(`_mta-sts.${d}: ${txt.why}`);
  if (cached && cached.id === txt.id) return fallback();

  let body: string;
  try {
    body = await deps.fetchPolicy(d);
  } catch (e) {
    return fallback(`policy fetch for ${d} failed: ${(e as Error).message}`);
  }
  const parsed = parsePolicy(body);
  if (!parsed.policy) return fallback(`policy for ${d} is invalid: ${parsed.error}`);
  const p: CachedPolicy = { id: txt.id, mode: parsed.policy.mode, mx: parsed.policy.mx, maxAgeS: parsed.policy.maxAgeS, fetchedAt: now };
  deps.cache.put(d, p);
  return { policy: p, source: 'fetched' };
}

export interface FetcherOptions {
  /** Extra trusted CA (PEM) on top of tls.rootCertificates; tests pass their test CA. */
  ca?: string | null;
  /** HTTPS port, 443 unless a test serves the policy elsewhere. */
  port?: number;
  /** Resolves mta-sts.<domain> to one address; dns.promises.lookup unless given. */
  lookup?: (host: string) => Promise<string>;
  /** Whole-request deadline, 10 s unless given. */
  timeoutMs?: number;
}

const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/i;

/** Whether a Content-Type header is text/plain, parameters allowed (§3.2). */
export function isTextPlain(contentType: string | undefined): boolean {
  return !!contentType && /^text\/plain[ \t]*(;|$)/i.test(contentType.trim());
}

/**
 * The HTTPS policy fetcher (§3.3): GET https://mta-sts.<domain>/.well-known/mta-sts.txt, certificate verified
 * for mta-sts.<domain> against tls.rootCertificates (plus `ca`), no redirects, status 200, Content-Type
 * text/plain, body at most 64 KB, one deadline for the whole request. Any other outcome rejects.
 */
export function httpsPolicyFetcher(opts: FetcherOptions = {}): (domain: string) => Promise<string> {
  return async (domain) => {
    const d = normHost(domain);
    if (!DOMAIN_RE.test(d)) throw new Error(`not a domain name: ${JSON.stringify(domain)}`);
    const host = `mta-sts.${d}`;
    const res = await httpsGet(host, '/.well-known/mta-sts.txt', {
      ca: opts.ca ?? null, port: opts.port ?? 443, timeoutMs: opts.timeoutMs ?? 10_000, maxBytes: MAX_POLICY_BYTES, accept: 'text/plain',
      ...(opts.lookup ? { lookup: opts.lookup } : {}),
    });
    if (res.status !== 200) throw new Error(`https://${host}/.well-known/mta-sts.txt answered ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}`);
    if (!isTextPlain(res.contentType)) throw new Error(`https://${host}/.well-known/mta-sts.txt has Content-Type ${JSON.stringify(res.contentType ?? '')}, not text/plain`);
    return res.body.toString('utf8');
  };
}
