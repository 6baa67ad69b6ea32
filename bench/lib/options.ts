// Owns the benchmark's settings: command-line flags first, then BENCH_* environment variables, then defaults.
import { parseArgs } from 'node:util';
import type { Mode } from './source.js';

export interface Size {
  label: string;
  bytes: number;
}

export interface Options {
  help: boolean;
  json: boolean;
  sizes: Size[];
  concurrency: number[];
  modes: Mode[];
  /** Messages per run when set (BENCH_COUNT / --count); otherwise defaultCount(size). */
  count: number | null;
  timeoutMs: number;
  warmup: number;
  postfix: boolean;
  phigate: boolean;
  /** Rules in the policy-set run (0 = skip it) */
  policyRules: number;
  /** the PGP and S/MIME runs (100 KB, c=10) */
  encryption: boolean;
}

export const USAGE = `Usage: node dist/bench/relay.js [options]   (or: npm run bench -- [options])

  --json                 print the results as JSON on stdout (progress goes to stderr)
  --sizes=1k,100k        message payload sizes (env BENCH_SIZES)
  --conc=1,10,50         parallel SMTP sessions (env BENCH_CONC)
  --modes=new,reuse      new connection per message and/or connection reuse (env BENCH_MODES)
  --count=N              messages per run (env BENCH_COUNT; default 2000 below 50 KB, else 1000)
  --timeout=SECONDS      time limit per run, then it is reported as incomplete (env BENCH_TIMEOUT; 120)
  --warmup=N             messages of each size sent to each relay before measuring (env BENCH_WARMUP; 2000, 0 = none)
  --no-postfix           skip the side-by-side Postfix (env BENCH_POSTFIX=0)
  --no-phigate           skip the gateway (env BENCH_PHIGATE=0)
  --no-encryption        skip the runs that encrypt every message to PGP and to S/MIME (env BENCH_ENCRYPTION=0)
  --policy-rules=N       also run phigate with an N-rule policy set, 1 KB at c=10 (env BENCH_POLICY_RULES; 50, 0 = skip)
`;

export function defaultCount(sizeBytes: number): number {
  return sizeBytes < 50 * 1024 ? 2000 : 1000;
}

export function parseSize(text: string): Size {
  const m = /^(\d+)\s*(b|k|kb|m|mb)?$/i.exec(text.trim());
  if (!m?.[1]) throw new Error(`bad size "${text}" (use e.g. 1k, 100k, 512)`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const bytes = unit === 'k' ? n * 1024 : unit === 'm' ? n * 1024 * 1024 : n;
  const label = unit === 'k' ? `${n} KB` : unit === 'm' ? `${n} MB` : `${n} B`;
  return { label, bytes };
}

function positiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`bad ${what} "${text}"`);
  return n;
}

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function parseModes(text: string): Mode[] {
  return list(text).map((m) => {
    if (m !== 'new' && m !== 'reuse') throw new Error(`bad mode "${m}" (new or reuse)`);
    return m;
  });
}

function enabled(flagOff: boolean | undefined, env: string | undefined): boolean {
  if (flagOff === true) return false;
  return !(env !== undefined && /^(0|no|false|off)$/i.test(env.trim()));
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      json: { type: 'boolean' },
      sizes: { type: 'string' },
      conc: { type: 'string' },
      modes: { type: 'string' },
      count: { type: 'string' },
      timeout: { type: 'string' },
      warmup: { type: 'string' },
      'no-postfix': { type: 'boolean' },
      'no-phigate': { type: 'boolean' },
      'policy-rules': { type: 'string' },
      'no-encryption': { type: 'boolean' },
    },
  });
  const count = values.count ?? env.BENCH_COUNT;
  const conc = list(values.conc ?? env.BENCH_CONC ?? '1,10,50').map((c) => positiveInt(c, 'concurrency'));
  if (conc.some((c) => c < 1)) throw new Error('concurrency must be at least 1');
  return {
    help: values.help === true,
    json: values.json === true,
    sizes: list(values.sizes ?? env.BENCH_SIZES ?? '1k,100k').map(parseSize),
    concurrency: conc,
    modes: parseModes(values.modes ?? env.BENCH_MODES ?? 'new,reuse'),
    count: count !== undefined && count !== '' ? positiveInt(count, 'count') : null,
    timeoutMs: positiveInt(values.timeout ?? env.BENCH_TIMEOUT ?? '120', 'timeout') * 1000,
    warmup: positiveInt(values.warmup ?? env.BENCH_WARMUP ?? '2000', 'warm-up count'),
    postfix: enabled(values['no-postfix'], env.BENCH_POSTFIX),
    phigate: enabled(values['no-phigate'], env.BENCH_PHIGATE),
    encryption: enabled(values['no-encryption'], env.BENCH_ENCRYPTION),
    policyRules: positiveInt(values['policy-rules'] ?? env.BENCH_POLICY_RULES ?? '50', 'policy rule count'),
  };
}
