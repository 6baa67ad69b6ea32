// Owns loading policies/*.yaml (file-name order, detectors.yaml and *.example.yaml excepted) into one PolicySet:
// schema validation with "did you mean", regular expressions, list files, known finding types, duplicate ids and
// rules shadowed by an earlier rule. Every problem is `file:line:col message`; a set with any problem is not used.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseYamlLocated, locate, type LocatedDoc } from '../config/yaml-locate.js';
import { schemaProblems, didYouMean } from '../config/schema-problems.js';
import type { FileProblem } from '../errors.js';
import type { ContentChanges, Route } from '../envelope.js';
import { policyFileSchema, ROUTE_ACTIONS } from './schema.js';
import { compileWhen, compileText } from './conditions.js';
import { readList, type AddressList } from './lists.js';
import type { CompiledRule, PolicySet } from './rule-set.js';

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
let compiled: ValidateFunction | null = null;
const validator = (): ValidateFunction => (compiled ??= ajv.compile(policyFileSchema));

/** The policy files of a folder, in the order they are read. */
export function policyFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => /\.ya?ml$/i.test(n) && !/\.example\.ya?ml$/i.test(n) && n !== 'detectors.yaml' && statSync(join(dir, n)).isFile())
    .sort();
}

export interface LoadOptions {
  /** finding types rules may name: the built-in ones plus the organisation's detectors */
  knownTypes: readonly string[];
  now?: number;
}

export interface LoadResult {
  set: PolicySet | null;
  problems: FileProblem[];
}

type Raw = Record<string, any>;
const asList = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

export function loadPolicySet(dir: string, opts: LoadOptions): LoadResult {
  const problems: FileProblem[] = [];
  const rules: CompiledRule[] = [];
  const lists = new Map<string, AddressList>();
  const hash = createHash('sha256');
  const files = policyFiles(dir);
  const seenIds = new Map<string, CompiledRule>();
  for (const name of files) {
    const file = join(dir, name);
    const text = readFileSync(file, 'utf8');
    hash.update(`${name}\0${text}\0`);
    const { located, problems: syntax } = parseYamlLocated(file, text);
    if (syntax.length) { problems.push(...syntax); continue; }
    const raw = (located.doc.toJS() ?? { rules: [] }) as Raw;
    const validate = validator();
    if (typeof raw !== 'object' || Array.isArray(raw)) { problems.push({ file, line: 1, col: 1, message: 'a policy file is a mapping with a "rules" list' }); continue; }
    if (!validate(raw)) { problems.push(...schemaProblems(located, validate.errors ?? [])); continue; }
    (raw.rules as Raw[]).forEach((r, i) => {
      const rule = compileRule(located, r, i, dir, lists, opts, problems);
      if (!rule) return;
      const dup = seenIds.get(rule.id);
      if (dup) problems.push({ file, line: rule.line, col: rule.col, message: `rule id "${rule.id}" is already used at ${dup.file}:${dup.line}:${dup.col}` });
      seenIds.set(rule.id, rule);
      rules.push(rule);
    });
  }
  problems.push(...shadowProblems(rules));
  for (const l of [...lists.values()].sort((a, b) => a.name.localeCompare(b.name))) hash.update(`${l.name}\0${l.text}\0`);
  if (problems.length) return { set: null, problems: problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col) };
  return {
    set: { version: hash.digest('hex').slice(0, 16), rules, files, lists: [...lists.keys()].sort(), loadedAt: opts.now ?? Date.now() },
    problems,
  };
}

function compileRule(ld: LocatedDoc, r: Raw, i: number, dir: string, lists: Map<string, AddressList>, opts: LoadOptions, problems: FileProblem[]): CompiledRule | null {
  const file = ld.file;
  const base = ['rules', i];
  const at = (path: (string | number)[], message: string) => {
    const p = locate(ld, [...base, ...path]);
    problems.push({ file, line: p.line, col: p.col, message });
  };
  const before = problems.length;
  const when = (r.when ?? {}) as Raw;
  const then = r.then as Raw;
  const actions = ROUTE_ACTIONS.filter((a) => then[a] !== undefined);
  if (actions.length === 0) at(['then'], `"then" needs one of ${ROUTE_ACTIONS.join(', ')} (tag, strip and notify go beside one of them)`);
  if (actions.length > 1) at(['then', actions[1]!], `"then" has both "${actions[0]}" and "${actions[1]}"; a rule takes one route`);
  // regular expressions
  const textAt = (spec: unknown, path: (string | number)[]) => {
    if (spec && typeof spec === 'object' && typeof (spec as Raw).matches === 'string') {
      try { compileText(spec as Raw); } catch (e) { at([...path, 'matches'], `not a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`); }
    }
  };
  textAt(when.subject, ['when', 'subject']);
  if (when.header !== undefined) (Array.isArray(when.header) ? when.header : [when.header]).forEach((h: unknown, j: number) => textAt(h, Array.isArray(when.header) ? ['when', 'header', j] : ['when', 'header']));
  if (when.attachment?.name !== undefined) textAt(when.attachment.name, ['when', 'attachment', 'name']);
  // finding types
  for (const k of ['any', 'all', 'none']) {
    const v = when.findings?.[k];
    asList(v).forEach((t, j) => {
      if (opts.knownTypes.includes(t)) return;
      const guess = didYouMean(t, opts.knownTypes);
      at(['when', 'findings', k, ...(Array.isArray(v) ? [j] : [])], `unknown finding type "${t}"${guess ? `; did you mean "${guess}"?` : ''} (known: ${opts.knownTypes.join(', ')})`);
    });
  }
  // list files
  for (const role of ['sender', 'recipient']) {
    for (const k of ['in', 'notIn']) {
      const v = when[role]?.[k];
      asList(v).forEach((n, j) => {
        if (lists.has(n)) return;
        const p = locate(ld, [...base, 'when', role, k, ...(Array.isArray(v) ? [j] : [])]);
        const got = readList(dir, n, { file, line: p.line, col: p.col });
        if (got.problem) problems.push(got.problem);
        else lists.set(n, got.list!);
      });
    }
  }
  const listeners = asList(when.sender?.listener);
  listeners.forEach((l, j) => { if (!['submission', 'smtps', 'relay'].includes(l)) at(['when', 'sender', 'listener', ...(Array.isArray(when.sender.listener) ? [j] : [])], `"listener" must be submission, smtps or relay`); });
  const notifyTo = asList(then.notify?.to);
  notifyTo.forEach((to, j) => {
    if (to !== 'sender' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(to)) at(['then', 'notify', 'to', ...(Array.isArray(then.notify.to) ? [j] : [])], `"to" must be "sender" or an email address`);
  });
  if (problems.length > before) return null;
  const p = locate(ld, [...base, 'id']);
  const changes: ContentChanges = {};
  if (then.tag?.subject) changes.subjectPrefix = String(then.tag.subject);
  if (then.tag?.header) changes.headers = Object.entries(then.tag.header as Record<string, string>);
  if (then.strip !== undefined) changes.strip = asList(then.strip);
  const route: Route = { rule: r.id, action: actions[0]! };
  if (then.deliver) route.tls = then.deliver;
  if (then.encrypt) route.methods = then.encrypt;
  if (then.reject) route.reason = then.reject;
  if (then.quarantine) route.reason = then.quarantine;
  if (Object.keys(changes).length) route.changes = changes;
  if (notifyTo.includes('sender')) route.notifySender = true;
  return {
    id: r.id, description: r.description ?? '', file, line: p.line, col: p.col, when,
    checks: compileWhen(when, lists), route,
    ...(then.notify ? { notify: { to: notifyTo, ...(then.notify.text ? { text: then.notify.text } : {}) } } : {}),
  };
}

/**
 * A rule can never match when an earlier rule's conditions are all among its own (the earlier rule matches
 * everything it would): an empty `when` shadows everything after it.
 */
function shadowProblems(rules: CompiledRule[]): FileProblem[] {
  const out: FileProblem[] = [];
  rules.forEach((later, j) => {
    const by = rules.slice(0, j).find((earlier) => Object.entries(earlier.when).every(([k, v]) => isDeepStrictEqual(later.when[k], v)));
    if (by) {
      out.push({
        file: later.file, line: later.line, col: later.col,
        message: `rule "${later.id}" can never match: rule "${by.id}" (${by.file}:${by.line}) comes first and matches everything it matches`,
      });
    }
  });
  return out;
}
