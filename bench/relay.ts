// Owns the relay benchmark's flow (`npm run bench`): starts smtp-sink, a private Postfix and the phigate
// gateway on 127.0.0.1, drives each with smtp-source for every (size, concurrency, mode) cell, and prints
// end-to-end messages/second side by side. Everything it starts is stopped by PID at the end, also on
// errors and Ctrl-C (see lib/cleanup.ts).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupAll, installCleanupHandlers, onCleanup } from './lib/cleanup.js';
import { RELAY_EXITED, measure, type RunResult } from './lib/measure.js';
import { USAGE, defaultCount, parseOptions, type Options, type Size } from './lib/options.js';
import { gatewayMissing, startGateway, type Gateway } from './lib/phigate.js';
import { startPostfix, type PostfixInstance } from './lib/postfix.js';
import { describeMachine, formatJson, loadAverage1m, formatText, type CellResult, type Report, type TargetName } from './lib/report.js';
import { Sink } from './lib/sink.js';
import type { Load, Mode } from './lib/source.js';
import { evaluationCost, writePolicySet } from './lib/policy-set.js';
import { encryptAllPolicy, prepareRecipientKey, type Method } from './lib/encryption.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WARMUP_TIMEOUT_MS = 60_000;

/** A warm-up's time limit: a minute, or 100 ms per message for a large --warmup (a slow relay is not dropped). */
function warmupTimeout(count: number): number {
  return Math.max(WARMUP_TIMEOUT_MS, count * 100);
}

interface Target {
  name: TargetName;
  port: number;
  /** Resolves if the relay process exits (phigate only). */
  exited?: Promise<unknown>;
  /** Why this target is not measured (any more), or null. */
  problem: string | null;
}

interface Running {
  sink: Sink;
  targets: Target[];
  postfix: PostfixInstance | null;
  gateway: Gateway | null;
}

function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-bench-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  onCleanup({ name: 'temp dir', run: async () => remove(), runSync: remove });
  return dir;
}

async function startPostfixTarget(opts: Options, baseDir: string, sink: Sink): Promise<[Target | null, PostfixInstance | null]> {
  if (!opts.postfix) return [null, null];
  try {
    const pf = await startPostfix(baseDir, sink.port);
    log(`postfix ${pf.version} listening on 127.0.0.1:${pf.port}`);
    return [{ name: 'postfix', port: pf.port, problem: null }, pf];
  } catch (err) {
    return [{ name: 'postfix', port: 0, problem: (err as Error).message }, null];
  }
}

async function startPhigateTarget(opts: Options, baseDir: string, sink: Sink): Promise<[Target | null, Gateway | null]> {
  if (!opts.phigate) return [null, null];
  const missing = gatewayMissing(REPO_ROOT);
  if (missing) return [{ name: 'phigate', port: 0, problem: missing }, null];
  const dir = join(baseDir, 'phigate');
  mkdirSync(dir, { mode: 0o700 });
  try {
    const gw = await startGateway(REPO_ROOT, dir, sink.port);
    log(`phigate (pid ${gw.pid}) relay listener on 127.0.0.1:${gw.port}`);
    return [{ name: 'phigate', port: gw.port, exited: gw.proc.exited, problem: null }, gw];
  } catch (err) {
    return [{ name: 'phigate', port: 0, problem: (err as Error).message }, null];
  }
}

async function startAll(opts: Options, baseDir: string): Promise<Running> {
  const sink = await Sink.start();
  log(`smtp-sink listening on 127.0.0.1:${sink.port}`);
  const [pfTarget, postfix] = await startPostfixTarget(opts, baseDir, sink);
  const [gwTarget, gateway] = await startPhigateTarget(opts, baseDir, sink);
  const targets: Target[] = [{ name: 'loopback', port: sink.port, problem: null }];
  for (const t of [pfTarget, gwTarget]) if (t) targets.push(t);
  for (const t of targets) if (t.problem) log(`${t.name}: not measured: ${t.problem}`);
  return { sink, targets, postfix, gateway };
}

/**
 * Warms one relay: `total` messages of each size, at 5 clients, split between `modes`. Returns why it failed
 * (a relay that does not deliver them), or null.
 */
async function warmRelay(run: Running, t: Target, sizes: Size[], modes: Mode[], total: number): Promise<string | null> {
  for (const size of sizes) {
    for (const mode of modes) {
      const load: Load = { sizeBytes: size.bytes, concurrency: 5, mode, count: Math.ceil(total / modes.length) };
      const r = await measure(run.sink, t.port, load, warmupTimeout(load.count), exitOf(run, t));
      log(`warm-up ${t.name}, ${size.label}, ${mode}: ${r.received}/${r.count} delivered in ${r.seconds.toFixed(1)} s`);
      if (!r.complete) return `warm-up failed: ${r.received}/${r.count} messages of ${size.label} reached the sink${r.error ? ` (${r.error})` : ''}`;
    }
  }
  return null;
}

/**
 * Sends `warmup` messages of every measured size through each relay first (split between the measured connection
 * modes), so the cells measure relays in their steady state; drops a relay that does not deliver them. phigate
 * needs this more than Postfix: the first 1,000 messages of 100 KB after a start ran at 0.6x its later rate (V8
 * still compiling its hot paths, LMDB's files growing to their working size).
 */
async function warmUp(opts: Options, run: Running): Promise<void> {
  if (opts.warmup === 0) return;
  for (const t of run.targets) {
    if (t.problem || t.name === 'loopback') continue;
    t.problem = await warmRelay(run, t, opts.sizes, opts.modes, opts.warmup);
  }
}

/** Resolves when the relay under test or the sink exits: either ends a run at once. */
function exitOf(run: Running, t: Target): Promise<unknown> {
  return Promise.race([run.sink.proc.exited, ...(t.exited ? [t.exited] : [])]);
}

function describeRun(t: Target, load: Load, size: Size, r: RunResult): string {
  const status = r.complete ? '' : r.error ? ` INCOMPLETE: ${r.error}` : ' INCOMPLETE (time limit)';
  const accept = r.sourceSeconds !== null ? `, accepted in ${r.sourceSeconds.toFixed(2)} s` : '';
  return `${t.name.padEnd(8)} ${size.label} c=${load.concurrency} ${load.mode}: ${r.received}/${r.count} in ${r.seconds.toFixed(2)} s = ${r.rate.toFixed(1)} msg/s${accept}${status}`;
}

async function runCell(opts: Options, run: Running, size: Size, concurrency: number, mode: Mode): Promise<CellResult> {
  const count = opts.count ?? defaultCount(size.bytes);
  const load: Load = { sizeBytes: size.bytes, concurrency, mode, count };
  const results: CellResult['results'] = { loopback: null, postfix: null, phigate: null };
  for (const t of run.targets) {
    if (t.problem) continue;
    const r = await measure(run.sink, t.port, load, opts.timeoutMs, exitOf(run, t));
    results[t.name] = r;
    log(describeRun(t, load, size, r));
    if (r.error === RELAY_EXITED) t.problem = 'it (or smtp-sink) exited during the benchmark';
  }
  return { size: size.label, sizeBytes: size.bytes, concurrency, mode, count, results };
}

async function runAllCells(opts: Options, run: Running): Promise<CellResult[]> {
  const cells: CellResult[] = [];
  for (const size of opts.sizes) {
    for (const concurrency of opts.concurrency) {
      for (const mode of opts.modes) cells.push(await runCell(opts, run, size, concurrency, mode));
    }
  }
  return cells;
}

interface PolicyRun { rules: number; usPerMessage: number; cells: { mode: Mode; withRules: RunResult | null; withoutRules: RunResult | null }[]; problem: string | null }

/**
 * phigate with an N-rule policy set beside the default one, 1 KB at c=10 (both modes), plus the in-process cost
 * of one evaluation: how much the policy stage adds next to scanning and spooling.
 */
async function runPolicySet(opts: Options, run: Running, baseDir: string, defaults: CellResult[]): Promise<PolicyRun | null> {
  if (!opts.phigate || opts.policyRules === 0 || problemOf(run, 'phigate')) return null;
  const dir = join(baseDir, 'phigate-policy');
  mkdirSync(dir, { mode: 0o700 });
  let gw: Gateway;
  try {
    gw = await startGateway(REPO_ROOT, dir, run.sink.port, (p) => writePolicySet(p, opts.policyRules));
  } catch (err) {
    return { rules: opts.policyRules, usPerMessage: 0, cells: [], problem: (err as Error).message };
  }
  const cost = evaluationCost(join(dir, 'policies'));
  log(`policy set: ${cost.rules} rules, ${cost.usPerMessage.toFixed(1)} µs per evaluation in process`);
  const target: Target = { name: 'phigate', port: gw.port, exited: gw.proc.exited, problem: null };
  const cells: PolicyRun['cells'] = [];
  const size = { label: '1 KB', bytes: 1024 };
  // warmed like the default-policy cells it is compared with
  if (opts.warmup > 0) await warmRelay(run, target, [size], opts.modes, opts.warmup);
  for (const mode of opts.modes) {
    const load: Load = { sizeBytes: 1024, concurrency: 10, mode, count: opts.count ?? defaultCount(1024) };
    const r = await measure(run.sink, gw.port, load, opts.timeoutMs, exitOf(run, target));
    log(describeRun({ ...target, name: 'phigate' }, load, size, r) + ` (${cost.rules}-rule policy)`);
    const base = defaults.find((c) => c.sizeBytes === 1024 && c.concurrency === 10 && c.mode === mode)?.results.phigate ?? null;
    cells.push({ mode, withRules: r, withoutRules: base });
  }
  await gw.stop();
  return { rules: cost.rules, usPerMessage: cost.usPerMessage, cells, problem: null };
}

function formatPolicyRun(p: PolicyRun | null): string {
  if (!p) return '';
  if (p.problem) return `
policy set run: not measured: ${p.problem}
`;
  const lines = [`
phigate through a ${p.rules}-rule policy set (1 KB, c=10; evaluation ${p.usPerMessage.toFixed(1)} µs per message in process):`];
  for (const c of p.cells) {
    const w = c.withRules?.rate ?? null;
    const wo = c.withoutRules?.rate ?? null;
    lines.push(`  ${c.mode.padEnd(5)}  ${w !== null ? w.toFixed(1) : '-'} msg/s with the rules, ${wo !== null ? wo.toFixed(1) : '-'} msg/s with the default policy${w !== null && wo ? ` (${(w / wo).toFixed(2)}x)` : ''}`);
  }
  return lines.join('\n') + '\n';
}

interface EncryptionRun { method: Method; result: RunResult | null; plain: RunResult | null; problem: string | null }

/** 100 KB messages at c=10 (reuse) through a gateway that encrypts every message to the recipient's key. */
async function runEncryption(opts: Options, run: Running, baseDir: string, defaults: CellResult[]): Promise<EncryptionRun[]> {
  if (!opts.phigate || !opts.encryption || problemOf(run, 'phigate')) return [];
  const out: EncryptionRun[] = [];
  const plain = defaults.find((c) => c.sizeBytes === 100 * 1024 && c.concurrency === 10 && c.mode === 'reuse')?.results.phigate ?? null;
  for (const method of ['pgp', 'smime'] as const) {
    const dir = join(baseDir, `phigate-${method}`);
    mkdirSync(dir, { mode: 0o700 });
    let gw: Gateway;
    try {
      await prepareRecipientKey(join(dir, 'data'), method, dir);
      gw = await startGateway(REPO_ROOT, dir, run.sink.port, encryptAllPolicy(method));
    } catch (err) {
      out.push({ method, result: null, plain, problem: (err as Error).message });
      continue;
    }
    const target: Target = { name: 'phigate', port: gw.port, exited: gw.proc.exited, problem: null };
    // warmed like the clear cells it is compared with
    if (opts.warmup > 0) await warmRelay(run, target, [{ label: '100 KB', bytes: 100 * 1024 }], ['reuse'], opts.warmup);
    const load: Load = { sizeBytes: 100 * 1024, concurrency: 10, mode: 'reuse', count: opts.count ?? defaultCount(100 * 1024) };
    const r = await measure(run.sink, gw.port, load, opts.timeoutMs, exitOf(run, target));
    log(describeRun(target, load, { label: '100 KB', bytes: 100 * 1024 }, r) + ` (every message encrypted: ${method})`);
    out.push({ method, result: r, plain, problem: null });
    await gw.stop();
  }
  return out;
}

function formatEncryption(runs: EncryptionRun[]): string {
  if (!runs.length) return '';
  const lines = ['\nphigate encrypting every message (100 KB, c=10, reuse; RSA-2048 recipient key):'];
  for (const e of runs) {
    if (e.problem) { lines.push(`  ${e.method.padEnd(5)}  not measured: ${e.problem}`); continue; }
    const w = e.result?.rate ?? null;
    const p = e.plain?.rate ?? null;
    lines.push(`  ${e.method.padEnd(5)}  ${w !== null ? w.toFixed(1) : '-'} msg/s${p ? ` (plain, same load: ${p.toFixed(1)} msg/s)` : ''}${e.result && !e.result.complete ? ' INCOMPLETE' : ''}`);
  }
  return lines.join('\n') + '\n';
}

function problemOf(run: Running, name: TargetName): string | null {
  return run.targets.find((t) => t.name === name)?.problem ?? null;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  installCleanupHandlers();
  const loadAtStart = loadAverage1m();
  const baseDir = makeTempDir();
  const run = await startAll(opts, baseDir);
  await warmUp(opts, run);
  const cells = await runAllCells(opts, run);
  const peakRssBytes = run.gateway?.peakRss() ?? null;
  await run.gateway?.stop();
  const policyRun = await runPolicySet(opts, run, baseDir, cells);
  const encryptionRuns = await runEncryption(opts, run, baseDir, cells);
  await cleanupAll();
  const report: Report = {
    machine: describeMachine(run.postfix?.version ?? null, loadAtStart),
    settings: { timeoutSeconds: opts.timeoutMs / 1000, warmup: opts.warmup },
    cells,
    phigate: { enabled: opts.phigate, peakRssBytes, problem: problemOf(run, 'phigate') },
    postfix: { enabled: opts.postfix, problem: problemOf(run, 'postfix') },
  };
  process.stdout.write(opts.json ? formatJson(report).replace(/\n?$/, '') + '\n' + (policyRun ? JSON.stringify({ policySet: policyRun }) + '\n' : '') + (encryptionRuns.length ? JSON.stringify({ encryption: encryptionRuns }) + '\n' : '') : formatText(report) + formatPolicyRun(policyRun) + formatEncryption(encryptionRuns));
  return 0;
}

main().then(
  (code) => { process.exitCode = code; },
  async (err: unknown) => {
    log(`benchmark failed: ${err instanceof Error ? err.message : String(err)}`);
    await cleanupAll();
    process.exitCode = 1;
  },
);
