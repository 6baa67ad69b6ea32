// Owns a rule's `when`: compiles each condition into a small test over (message, recipient) that says whether it
// holds and, in words, why or why not. The words name the rule's own terms (types, lists, patterns), never a
// message's content, so `policy test` output and audit records carry no PHI.
import type { ListenerName, ScanFacts } from '../envelope.js';
import { domainMatches, listHas, type AddressList } from './lists.js';

/** What policy sees of a message. */
export interface PolicyMessage {
  sender: string;
  listener: ListenerName;
  user: string | null;
  scan: ScanFacts;
  /** decoded Subject */
  subject: string;
  /** unfolded, decoded header lines, names lowercased */
  headers: [string, string][];
  size: number;
}

export interface CheckResult {
  ok: boolean;
  why: string;
  /** finding types that made a findings condition hold (for the audit) */
  types?: string[];
}

export interface Check {
  key: string;
  /** the test reads the scan; the others can be made on the envelope and headers alone (see mayRefuse) */
  readsScan?: true;
  test(m: PolicyMessage, recipient: string): CheckResult;
}

export type TextTestSpec = string | { equals?: string; contains?: string; startsWith?: string; endsWith?: string; matches?: string; caseSensitive?: boolean };

/** Compiles a text test; throws with the regular expression's own message when `matches` is invalid. */
export function compileText(spec: TextTestSpec): { test(s: string): boolean; describe: string } {
  if (typeof spec === 'string') spec = { contains: spec };
  const cs = spec.caseSensitive === true;
  const norm = (s: string) => (cs ? s : s.toLowerCase());
  const parts: { test(s: string): boolean; describe: string }[] = [];
  if (spec.equals !== undefined) { const v = norm(spec.equals); parts.push({ test: (s) => norm(s) === v, describe: `is "${spec.equals}"` }); }
  if (spec.contains !== undefined) { const v = norm(spec.contains); parts.push({ test: (s) => norm(s).includes(v), describe: `contains "${spec.contains}"` }); }
  if (spec.startsWith !== undefined) { const v = norm(spec.startsWith); parts.push({ test: (s) => norm(s).trimStart().startsWith(v), describe: `starts with "${spec.startsWith}"` }); }
  if (spec.endsWith !== undefined) { const v = norm(spec.endsWith); parts.push({ test: (s) => norm(s).trimEnd().endsWith(v), describe: `ends with "${spec.endsWith}"` }); }
  if (spec.matches !== undefined) { const re = new RegExp(spec.matches, cs ? 'u' : 'iu'); parts.push({ test: (s) => re.test(s), describe: `matches /${spec.matches}/` }); }
  return { test: (s) => parts.every((p) => p.test(s)), describe: parts.map((p) => p.describe).join(' and ') };
}

const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function typeCounts(scan: ScanFacts): Map<string, number> {
  const m = new Map<string, number>();
  for (const f of scan.findings) m.set(f.type, (m.get(f.type) ?? 0) + f.count);
  return m;
}

export interface FindingsSpec { any?: string | string[]; all?: string | string[]; none?: string | string[]; min?: number }

function findingsCheck(spec: FindingsSpec): Check {
  const any = asList(spec.any), all = asList(spec.all), none = asList(spec.none);
  const min = spec.min ?? 1;
  const times = min > 1 ? ` (at least ${min} each)` : '';
  const onlyMin = !any.length && !all.length && !none.length;
  return {
    key: 'findings',
    readsScan: true,
    test(m) {
      const counts = typeCounts(m.scan);
      const has = (t: string) => (counts.get(t) ?? 0) >= min;
      if (onlyMin) { // `min` alone: some type of the message, counted across its parts, reaches the count
        const f = [...counts.keys()].filter(has).sort();
        return f.length
          ? { ok: true, why: `findings: found ${f.join(', ')}${times}`, types: f }
          : { ok: false, why: min > 1 ? `findings: no type found at least ${min} times` : 'findings: none found', types: [] };
      }
      const found = (ts: string[]) => ts.filter(has);
      const reasons: string[] = [];
      let ok = true;
      const types = new Set<string>();
      if (any.length) {
        const f = found(any);
        if (f.length) { f.forEach((t) => types.add(t)); reasons.push(`found ${f.join(', ')}${times}`); } else { ok = false; reasons.push(min > 1 ? `none of ${any.join(', ')} found ${min} or more times` : `none of ${any.join(', ')} found`); }
      }
      if (all.length) {
        const missing = all.filter((t) => !has(t));
        if (!missing.length) { all.forEach((t) => types.add(t)); reasons.push(`found all of ${all.join(', ')}${times}`); } else { ok = false; reasons.push(min > 1 ? `${missing.join(', ')} not found ${min} or more times` : `${missing.join(', ')} not found`); }
      }
      if (none.length) {
        const present = none.filter((t) => (counts.get(t) ?? 0) > 0);
        if (present.length) { ok = false; reasons.push(`${present.join(', ')} found, rule wants none`); } else reasons.push(`none of ${none.join(', ')} found`);
      }
      return { ok, why: `findings: ${reasons.join('; ')}`, types: [...types] };
    },
  };
}

export interface AddressSpec {
  address?: string | string[]; domain?: string | string[]; notDomain?: string | string[]; in?: string | string[]; notIn?: string | string[];
  user?: string | string[]; listener?: string | string[]; authenticated?: boolean;
}

function addressCheck(role: 'sender' | 'recipient', spec: AddressSpec, lists: Map<string, AddressList>): Check {
  const addresses = new Set(asList(spec.address).map((a) => a.toLowerCase()));
  const domains = new Set(asList(spec.domain).map((d) => d.toLowerCase().replace(/^\*?\./, '')));
  const notDomains = new Set(asList(spec.notDomain).map((d) => d.toLowerCase().replace(/^\*?\./, '')));
  const inLists = asList(spec.in).map((n) => lists.get(n)!);
  const notInLists = asList(spec.notIn).map((n) => lists.get(n)!);
  const users = new Set(asList(spec.user).map((u) => u.toLowerCase()));
  const listeners = asList(spec.listener);
  return {
    key: role,
    test(m, recipient) {
      const a = (role === 'sender' ? m.sender : recipient).toLowerCase();
      const shown = a || '<>';
      const domain = a.slice(a.lastIndexOf('@') + 1);
      const parts: CheckResult[] = [];
      if (addresses.size) parts.push({ ok: addresses.has(a), why: `${role} ${shown} ${addresses.has(a) ? 'is' : 'is not'} one of ${[...addresses].join(', ')}` });
      if (domains.size) { const ok = a !== '' && domainMatches(domain, domains); parts.push({ ok, why: `${role} domain ${domain || '(none)'} ${ok ? 'is' : 'is not'} in ${[...domains].join(', ')}` }); }
      if (notDomains.size) { const hit = a !== '' && domainMatches(domain, notDomains); parts.push({ ok: !hit, why: `${role} domain ${domain || '(none)'} ${hit ? 'is' : 'is not'} in ${[...notDomains].join(', ')}` }); }
      if (inLists.length) {
        const hit = inLists.find((l) => listHas(l, a));
        parts.push({ ok: !!hit, why: hit ? `${role} ${shown} is in ${hit.name}` : `${role} ${shown} is not in ${inLists.map((l) => l.name).join(', ')}` });
      }
      if (notInLists.length) {
        const hit = notInLists.find((l) => listHas(l, a));
        parts.push({ ok: !hit, why: hit ? `${role} ${shown} is in ${hit.name}` : `${role} ${shown} is not in ${notInLists.map((l) => l.name).join(', ')}` });
      }
      if (users.size) { const ok = m.user !== null && users.has(m.user.toLowerCase()); parts.push({ ok, why: `authenticated user ${m.user ?? '(none)'} ${ok ? 'is' : 'is not'} one of ${[...users].join(', ')}` }); }
      if (listeners.length) { const ok = listeners.includes(m.listener); parts.push({ ok, why: `listener ${m.listener} ${ok ? 'is' : 'is not'} ${listeners.join(' or ')}` }); }
      if (spec.authenticated !== undefined) { const ok = (m.user !== null) === spec.authenticated; parts.push({ ok, why: `sender ${m.user !== null ? 'authenticated' : 'did not authenticate'}` }); }
      return { ok: parts.every((p) => p.ok), why: parts.map((p) => p.why).join('; ') };
    },
  };
}

export interface HeaderSpec { name: string; exists?: boolean; equals?: string; contains?: string; startsWith?: string; endsWith?: string; matches?: string; caseSensitive?: boolean }

function headerCheck(spec: HeaderSpec): Check {
  const name = spec.name.toLowerCase();
  const { name: _n, exists, ...textSpec } = spec;
  const text = Object.keys(textSpec).filter((k) => k !== 'caseSensitive').length ? compileText(textSpec) : null;
  return {
    key: 'header',
    test(m) {
      const values = m.headers.filter(([n]) => n === name).map(([, v]) => v);
      if (exists !== undefined && (values.length > 0) !== exists) return { ok: false, why: `header ${spec.name} ${values.length ? 'is present' : 'is absent'}` };
      if (!text) return { ok: true, why: `header ${spec.name} ${values.length ? 'is present' : 'is absent'}` };
      const ok = values.some((v) => text.test(v));
      return { ok, why: `header ${spec.name} ${ok ? text.describe : negate(text.describe)}` };
    },
  };
}

function negate(describe: string): string {
  return describe.replace(/^is /, 'is not ').replace(/^contains/, 'does not contain').replace(/^starts/, 'does not start').replace(/^ends/, 'does not end').replace(/^matches/, 'does not match');
}

function sizeOf(s: string | number): number {
  if (typeof s === 'number') return s;
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?$/i.exec(s.trim())!;
  const mult = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[(m[2] ?? 'B').toUpperCase() as 'B'];
  return Math.round(Number(m[1]) * mult);
}

function typeMatches(type: string, pattern: string): boolean {
  const p = pattern.toLowerCase();
  return p.endsWith('/*') ? type.startsWith(p.slice(0, -1)) : type === p;
}

/** Compiles every condition of a rule's `when`. Throws an Error naming the key path for an invalid pattern. */
export function compileWhen(when: Record<string, any>, lists: Map<string, AddressList>): Check[] {
  const checks: Check[] = [];
  for (const [key, spec] of Object.entries(when)) {
    switch (key) {
      case 'phi':
        checks.push({ key, readsScan: true, test: (m) => ({ ok: m.scan.phi === spec, why: `phi is ${m.scan.phi}${m.scan.phi === spec ? '' : ` (rule wants ${spec})`}` }) });
        break;
      case 'scanFailed':
        checks.push({ key, readsScan: true, test: (m) => { const f = m.scan.reasons.includes('scan-failed'); return { ok: f === spec, why: f ? 'the scan failed' : 'the scan completed' }; } });
        break;
      case 'findings':
        checks.push(findingsCheck(spec));
        break;
      case 'unscanned': {
        const reasons: string[] | null = Array.isArray(spec) ? spec : null;
        checks.push({
          key,
          readsScan: true,
          test: (m) => {
            const n = m.scan.unscanned.length;
            if (reasons) {
              const hit = m.scan.unscanned.filter((u) => reasons.includes(u.reason)).map((u) => u.reason);
              return { ok: hit.length > 0, why: hit.length ? `unscanned parts: ${[...new Set(hit)].join(', ')}` : `no unscanned part is ${reasons.join(' or ')}` };
            }
            return { ok: (n > 0) === spec, why: n ? `${n} part(s) could not be scanned` : 'every part was scanned' };
          },
        });
        break;
      }
      case 'sender':
      case 'recipient':
        checks.push(addressCheck(key, spec, lists));
        break;
      case 'subject': {
        const t = compileText(spec);
        checks.push({ key, test: (m) => { const ok = t.test(m.subject); return { ok, why: `subject ${ok ? t.describe : negate(t.describe)}` }; } });
        break;
      }
      case 'header':
        for (const h of Array.isArray(spec) ? spec : [spec]) checks.push(headerCheck(h));
        break;
      case 'attachment': {
        const name = spec.name !== undefined ? compileText(spec.name) : null;
        const types = asList(spec.type);
        checks.push({
          key,
          readsScan: true,
          test: (m) => {
            const atts = m.scan.attachments ?? [];
            const ok = atts.some((a) => (!name || name.test(a.name)) && (!types.length || types.some((p) => typeMatches(a.type, p))));
            const what = [name ? `a name that ${name.describe.replace(/^is /, 'is ')}` : '', types.length ? `type ${types.join(' or ')}` : ''].filter(Boolean).join(' and ');
            return { ok, why: `${ok ? 'an attachment has' : 'no attachment has'} ${what}` };
          },
        });
        break;
      }
      case 'size': {
        const over = spec.over !== undefined ? sizeOf(spec.over) : null;
        const under = spec.under !== undefined ? sizeOf(spec.under) : null;
        checks.push({
          key,
          test: (m) => {
            const ok = (over === null || m.size > over) && (under === null || m.size < under);
            return { ok, why: `size ${m.size} bytes ${ok ? 'is' : 'is not'}${over !== null ? ` over ${over}` : ''}${over !== null && under !== null ? ' and' : ''}${under !== null ? ` under ${under}` : ''}` };
          },
        });
        break;
      }
    }
  }
  return checks;
}
