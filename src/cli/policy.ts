// Owns `phigate policy check` (validate every policy and list file, print file:line:col problems) and
// `phigate policy test FILE.eml --from --to` (a dry run of scan and policy: per recipient the deciding rule, why it
// matched, the route, and why each earlier rule did not). Nothing is sent, queued or audited.
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { PhigateError, FileProblemsError, formatProblem } from '../errors.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { loadPolicySet } from '../policy/load.js';
import { loadOrgDetectors, NO_ORG_DETECTORS } from '../inspect/org-detectors.js';
import { ENTITY_TYPES, domainOf, type ListenerName, type TlsLevel } from '../envelope.js';
import { print } from './common.js';

/** The policies folder: --policies, else the config's (--config or PHIGATE_CONFIG, or the default file when present), else ./policies. */
function policiesDir(o: { policies?: string; config?: string }): { dir: string; config: Config | null } {
  if (o.policies) return { dir: o.policies, config: o.config ? loadConfig(o.config) : null };
  if (o.config || process.env['PHIGATE_CONFIG'] || existsSync('config/phigate.yaml')) {
    const config = loadConfig(o.config);
    return { dir: shorter(config.policies), config };
  }
  return { dir: 'policies', config: null };
}

/** A path below the working directory is shown relative to it (problems read `policies/x.yaml:3:5 ...`). */
function shorter(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : dir;
}

function loadAll(dir: string) {
  if (!existsSync(dir)) throw new PhigateError('POLICY_INVALID', `${dir}: no such policies folder`);
  const org = loadOrgDetectors(dir);
  const detectors = org.problems.length ? NO_ORG_DETECTORS : org.detectors;
  const knownTypes = [...new Set([...ENTITY_TYPES, ...detectors.detectors.map((d) => d.type)])];
  const r = loadPolicySet(dir, { knownTypes });
  return { org: detectors, problems: [...org.problems, ...r.problems], set: r.set };
}

export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('check and dry-run the routing policy in policies/');
  policy.command('check')
    .description('validate every policy file, list file and detectors.yaml; print file:line:col for each problem (exit 1 when any)')
    .option('-c, --config <file>', 'use the policies folder of this config')
    .option('--policies <dir>', 'the policies folder to check')
    .action((o: { config?: string; policies?: string }) => {
      const { dir } = policiesDir(o);
      const { problems, set } = loadAll(dir);
      if (problems.length || !set) {
        for (const p of problems) print(formatProblem(p));
        throw new PhigateError('POLICY_INVALID', `${problems.length} problem(s) in ${dir}; the gateway keeps the last good policy set until they are fixed`);
      }
      print(`${dir}: OK: ${set.files.length} file(s), ${set.rules.length} rule(s), ${set.lists.length} list(s); policy version ${set.version}`);
      if (!set.rules.length) print('no rules: every recipient gets the built-in default (possible PHI only protected, other mail as outbound.tls says)');
    });
  policy.command('test <file>')
    .description('dry-run scan and policy on a message: per recipient the rule, why it matched, the route, and the rules before it that did not match')
    .requiredOption('--from <address>', 'envelope sender')
    .requiredOption('--to <address>', 'recipient (repeat for several)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--user <name>', 'as if sent by this authenticated user')
    .option('--listener <name>', 'as if received on this listener (submission, smtps, relay)', 'relay')
    .option('--json', 'print one JSON object')
    .option('-c, --config <file>', 'use this config (its policies folder and outbound.tls)')
    .option('--policies <dir>', 'the policies folder to use')
    .action(async (file: string, o: { from: string; to: string[]; user?: string; listener: string; json?: boolean; config?: string; policies?: string }) => {
      if (!['submission', 'smtps', 'relay'].includes(o.listener)) throw new PhigateError('USAGE', `--listener must be submission, smtps or relay, not "${o.listener}"`);
      const { dir, config } = policiesDir(o);
      const { org, problems, set } = loadAll(dir);
      if (problems.length || !set) throw new FileProblemsError('POLICY_INVALID', problems);
      let raw: Buffer;
      try { raw = readFileSync(file); } catch (e) {
        throw new PhigateError('SCAN_INPUT', `${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { exitCode: 2 });
      }
      const { looksLikeMessage } = await import('../inspect/message-check.js');
      const why = looksLikeMessage(raw);
      if (why) throw new PhigateError('SCAN_INPUT', `${file}: not an email message (${why})`, { exitCode: 2 });
      const { scanMessage } = await import('../inspect/scan.js');
      const { withOrg } = await import('../inspect/dictionary.js');
      const { policyMessage } = await import('../policy/message.js');
      const { evaluate } = await import('../policy/evaluate.js');
      const { describeRoute, effectiveLevel } = await import('../policy/describe.js');
      const { lookupDomain } = await import('../deliver/domain-table.js');
      const scan = await scanMessage(raw, { dictionaries: withOrg(undefined, org) });
      const env = { sender: o.from, size: raw.length, client: { listener: o.listener as ListenerName, clientIp: '127.0.0.1', ...(o.user ? { user: o.user } : {}) } };
      const decisions = evaluate(set, policyMessage(env, raw, scan), o.to, { explain: true });
      const floorOf = (a: string): TlsLevel => (config ? lookupDomain(config.outbound.tls, domainOf(a), 'verify') : 'none');
      const types = [...new Set(scan.findings.map((f) => f.type))].sort();
      if (o.json) {
        return print(JSON.stringify({
          policyVersion: set.version,
          scan: { phi: scan.phi, score: scan.score, reasons: scan.reasons, findingTypes: types, unscanned: scan.unscanned.map((u) => u.reason) },
          recipients: decisions.map((d) => ({
            recipient: d.recipient, rule: d.rule.id, description: d.rule.description, file: d.rule.file, line: d.rule.line,
            action: d.route.action, route: describeRoute(d.route, floorOf(d.recipient)),
            ...(d.route.action === 'deliver' || d.route.action === 'encrypt' ? { tls: effectiveLevel(d.route, floorOf(d.recipient)) } : {}),
            ...(d.route.methods ? { methods: d.route.methods } : {}), ...(d.route.reason ? { reason: d.route.reason } : {}),
            matched: d.matched, findingTypes: d.types, notMatched: (d.notMatched ?? []).map((n) => ({ rule: n.rule.id, why: n.why })),
          })),
        }));
      }
      print(`policy version ${set.version} (${dir}); nothing is sent or queued`);
      print(`scan: PHI ${scan.phi ? 'yes' : 'no'} (score ${scan.score}${scan.reasons.length ? `; ${scan.reasons.join(', ')}` : ''}); types: ${types.join(', ') || 'none'}${scan.unscanned.length ? `; ${scan.unscanned.length} part(s) not scanned` : ''}`);
      for (const d of decisions) {
        print('');
        print(`${d.recipient}`);
        print(`  rule:    ${d.rule.id}${d.rule.file ? ` (${d.rule.file}:${d.rule.line})` : ''}${d.rule.description ? ` - ${d.rule.description}` : ''}`);
        print(`  route:   ${describeRoute(d.route, floorOf(d.recipient))}`);
        print(`  because: ${d.matched.join('; ')}`);
        for (const n of d.notMatched ?? []) print(`  skipped: ${n.rule.id}: ${n.why}`);
      }
      if (!config) print('\n(no config read: outbound.tls levels not applied; pass --config to include them)');
    });
}
