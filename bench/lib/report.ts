// Owns the benchmark's output: the machine description, the results table (text) and the JSON document.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg, release, totalmem } from 'node:os';
import type { RunResult } from './measure.js';
import type { Mode } from './source.js';

export type TargetName = 'loopback' | 'postfix' | 'phigate';

export interface CellResult {
  size: string;
  sizeBytes: number;
  concurrency: number;
  mode: Mode;
  count: number;
  /** null: target skipped or not available. */
  results: Record<TargetName, RunResult | null>;
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  postfix: string | null;
  /** 1-minute load average when the benchmark started and when it ended: other work skews the figures. */
  loadAverage: { start: number; end: number };
}

export interface Report {
  machine: Machine;
  settings: { timeoutSeconds: number; warmup: number };
  cells: CellResult[];
  phigate: { enabled: boolean; peakRssBytes: number | null; problem: string | null };
  postfix: { enabled: boolean; problem: string | null };
}

export function loadAverage1m(): number {
  return loadavg()[0] ?? 0;
}

export function describeMachine(postfixVersion: string | null, loadAtStart: number): Machine {
  let nproc = 0;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    nproc = 0;
  }
  let cpuModel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // Not Linux.
  }
  return {
    nproc, cpuModel, memoryBytes: totalmem(), kernel: release(), node: process.version, postfix: postfixVersion,
    loadAverage: { start: loadAtStart, end: loadAverage1m() },
  };
}

export function ratio(a: RunResult | null, b: RunResult | null): number | null {
  if (!a || !b || a.received === 0 || b.rate === 0) return null;
  return a.rate / b.rate;
}

function rateText(r: RunResult | null): string {
  if (!r) return '-';
  if (r.error && r.received === 0) return 'error';
  const n = r.rate >= 100 ? r.rate.toFixed(0) : r.rate.toFixed(1);
  return r.complete ? n : `${n}*`;
}

function ratioText(a: RunResult | null, b: RunResult | null): string {
  const x = ratio(a, b);
  if (x === null) return '-';
  const mark = a?.complete && b?.complete ? '' : '*';
  return `${x.toFixed(x >= 0.1 ? 2 : 3)}${mark}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const [head, ...body] = rows;
  return [line(head!), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function formatText(report: Report): string {
  const header = ['size', 'conc', 'mode', 'msgs', 'loopback msg/s', 'postfix msg/s', 'phigate msg/s', 'phigate/postfix', 'phigate/loopback'];
  const rows = report.cells.map((c) => [
    c.size, String(c.concurrency), c.mode, String(c.count),
    rateText(c.results.loopback), rateText(c.results.postfix), rateText(c.results.phigate),
    ratioText(c.results.phigate, c.results.postfix), ratioText(c.results.phigate, c.results.loopback),
  ]);
  const m = report.machine;
  const out = [
    'End-to-end relay throughput (smtp-source -> relay -> smtp-sink, all on 127.0.0.1)',
    '',
    table([header, ...rows]),
    '',
    `* incomplete: the ${report.settings.timeoutSeconds} s limit was reached or a run failed; the rate is messages received / time.`,
    'mode new: a new SMTP connection per message; reuse: smtp-source -d, messages share connections.',
    `phigate peak RSS: ${report.phigate.peakRssBytes !== null ? mb(report.phigate.peakRssBytes) : '-'}`,
    `machine: ${m.nproc} CPUs (nproc), ${m.cpuModel}, ${mb(m.memoryBytes)} RAM, Linux ${m.kernel}, node ${m.node}` +
      (m.postfix ? `, Postfix ${m.postfix}` : ''),
    `load average (1 min): ${m.loadAverage.start.toFixed(2)} at start, ${m.loadAverage.end.toFixed(2)} at end` +
      (Math.max(m.loadAverage.start, m.loadAverage.end) > m.nproc ? ' -- the machine was busy with other work, figures are noisy' : ''),
  ];
  if (report.postfix.problem) out.push(`postfix: ${report.postfix.problem}`);
  if (report.phigate.problem) out.push(`phigate: ${report.phigate.problem}`);
  out.push(...errorLines(report));
  return out.join('\n') + '\n';
}

function errorLines(report: Report): string[] {
  const lines: string[] = [];
  for (const c of report.cells) {
    for (const [name, r] of Object.entries(c.results)) {
      if (r?.error) lines.push(`error ${name} ${c.size} c=${c.concurrency} ${c.mode}: ${r.error}`);
    }
  }
  return lines;
}

export function formatJson(report: Report): string {
  const cells = report.cells.map((c) => ({
    ...c,
    ratios: {
      phigateToPostfix: ratio(c.results.phigate, c.results.postfix),
      phigateToLoopback: ratio(c.results.phigate, c.results.loopback),
      postfixToLoopback: ratio(c.results.postfix, c.results.loopback),
    },
  }));
  return JSON.stringify({ ...report, cells }, null, 2) + '\n';
}
