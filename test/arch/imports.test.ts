// DESIGN.md's import rules, read from the import statements of src/**/*.ts:
//  - leaves (envelope, smtp-reply, errors, log) import nothing of ours;
//  - the shared leaves store.ts and config/ import errors.ts only (config/ also its own files);
//  - a stage folder (listener, spool, inspect, policy, transform, deliver, audit, portal) imports leaves, store.ts,
//    config/ and its own files, never another stage (nor pipeline, gateway or cli);
//  - only pipeline.ts, gateway.ts and cli/ compose several stages;
//  - every module belongs to one of these groups, so a new file forces a decision here.
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { ROOT } from '../helpers/gateway.js';

const SRC = join(ROOT, 'src');
const LEAVES = new Set(['envelope.ts', 'smtp-reply.ts', 'errors.ts', 'log.ts', 'message-headers.ts', 'https-get.ts']);
const STAGES = new Set(['listener', 'spool', 'inspect', 'policy', 'transform', 'deliver', 'audit', 'portal']);
const COMPOSERS = new Set(['pipeline.ts', 'gateway.ts']);

type Group = { kind: 'leaf' } | { kind: 'store' } | { kind: 'config' } | { kind: 'stage'; name: string } | { kind: 'composer' } | { kind: 'unknown' };

function groupOf(mod: string): Group {
  const [top, ...rest] = mod.split('/');
  if (!rest.length) {
    if (LEAVES.has(top!)) return { kind: 'leaf' };
    if (top === 'store.ts' || top === 'seal.ts' || top === 'master-key.ts') return { kind: 'store' };
    if (COMPOSERS.has(top!)) return { kind: 'composer' };
    return { kind: 'unknown' };
  }
  if (top === 'config') return { kind: 'config' };
  if (top === 'cli') return { kind: 'composer' };
  if (STAGES.has(top!)) return { kind: 'stage', name: top! };
  return { kind: 'unknown' };
}

/** Why `from` may not import `to` (both paths relative to src/, posix), or null when it may. */
function ruleBroken(from: string, to: string): string | null {
  const f = groupOf(from);
  const g = groupOf(to);
  if (f.kind === 'unknown') return `${from} belongs to no group of DESIGN.md's layout`;
  if (to.startsWith('../')) return `${from} imports ${to}, outside src/`;
  if (g.kind === 'unknown') return `${from} imports ${to}, which belongs to no group of DESIGN.md's layout`;
  switch (f.kind) {
    case 'leaf':
      return `leaf ${from} imports ${to}: leaves import nothing of ours`;
    case 'store':
      return to === 'errors.ts' || g.kind === 'store' ? null : `shared leaf ${from} imports ${to}: it may import errors.ts and the other store modules (seal, master key) only`;
    case 'config':
      return to === 'errors.ts' || g.kind === 'config' ? null : `config module ${from} imports ${to}: config/ may import errors.ts and its own files only`;
    case 'stage':
      if (g.kind === 'leaf' || g.kind === 'store' || g.kind === 'config') return null;
      if (g.kind === 'stage' && g.name === f.name) return null;
      if (g.kind === 'stage') return `stage ${f.name} (${from}) imports another stage: ${to}`;
      return `stage ${f.name} (${from}) imports the composer ${to}`;
    case 'composer':
      return null;
  }
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return listTs(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Module specifiers of static imports and re-exports, side-effect imports and dynamic import() calls. */
function importsOf(source: string): string[] {
  const code = source.split('\n').filter((l) => !/^\s*(\/\/|\/?\*)/.test(l)).join('\n');
  const specs: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) specs.push(m[1]!);
  return specs;
}

/** src-relative module -> src-relative modules it imports (ours only, .js specifiers mapped to .ts files). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of listTs(SRC)) {
    const from = relative(SRC, file).split(sep).join(posix.sep);
    const ours = importsOf(readFileSync(file, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((s) => relative(SRC, resolve(dirname(file), s)).split(sep).join(posix.sep).replace(/\.js$/, '.ts'));
    graph.set(from, ours);
  }
  return graph;
}

test('the import parser sees every form of import', (t) => {
  const src = [
    "import { a } from './a.js';",
    "import type { B } from '../b.js';",
    'import {\n  c,\n  type D,\n} from "./c.js";',
    "export { e } from './e.js';",
    "export * from './f.js';",
    "import './side-effect.js';",
    "const g = await import('../g.js');",
    "import { pino } from 'pino';",
    "// import { h } from './commented-out.js';",
    " * import { i } from './in-a-doc-comment.js';",
  ].join('\n');
  t.deepEqual(importsOf(src).sort(), ['../b.js', '../g.js', './a.js', './c.js', './e.js', './f.js', './side-effect.js', 'pino'].sort());
});

test('the rules reject what DESIGN.md forbids', (t) => {
  t.truthy(ruleBroken('envelope.ts', 'errors.ts'), 'a leaf imports a leaf');
  t.truthy(ruleBroken('store.ts', 'log.ts'));
  t.truthy(ruleBroken('config/load.ts', 'envelope.ts'));
  t.truthy(ruleBroken('deliver/deliver.ts', 'spool/spool.ts'), 'a stage imports another stage');
  t.truthy(ruleBroken('listener/server.ts', 'audit/append.ts'));
  t.truthy(ruleBroken('spool/spool.ts', 'pipeline.ts'), 'a stage imports the composer');
  t.truthy(ruleBroken('audit/query.ts', 'cli/common.ts'));
  t.truthy(ruleBroken('stray.ts', 'errors.ts'), 'a module outside the layout');
  t.truthy(ruleBroken('deliver/x.ts', 'helpers/y.ts'));
  t.is(ruleBroken('store.ts', 'errors.ts'), null);
  t.is(ruleBroken('config/load.ts', 'config/schema.ts'), null);
  t.is(ruleBroken('deliver/deliver.ts', 'deliver/route.ts'), null);
  t.is(ruleBroken('inspect/extract/pdf.ts', 'inspect/types.ts'), null);
  t.is(ruleBroken('spool/spool.ts', 'store.ts'), null);
  t.is(ruleBroken('listener/server.ts', 'config/schema.ts'), null);
  t.is(ruleBroken('pipeline.ts', 'deliver/deliver.ts'), null);
  t.is(ruleBroken('cli/user.ts', 'listener/users.ts'), null);
});

test('src/ follows the import rules of DESIGN.md', (t) => {
  const graph = importGraph();
  // the parser found the real graph (guards against a test that passes because it reads nothing)
  t.true(graph.size >= 30, `only ${graph.size} modules found under ${SRC}`);
  t.true(graph.get('pipeline.ts')?.includes('spool/spool.ts'), 'pipeline.ts -> spool/spool.ts seen');
  t.true(graph.get('cli/start.ts')?.includes('gateway.ts'), 'the dynamic import in cli/start.ts is seen');
  t.true(graph.get('store.ts')?.includes('errors.ts'), 'store.ts -> errors.ts seen');
  const problems: string[] = [];
  for (const [from, tos] of graph) {
    if (groupOf(from).kind === 'unknown') {
      problems.push(`${from} belongs to no group of DESIGN.md's layout`);
      continue;
    }
    for (const to of tos) {
      if (!graph.has(to) && !to.startsWith('../')) problems.push(`${from} imports ${to}, which does not exist`);
      const why = ruleBroken(from, to);
      if (why) problems.push(why);
    }
  }
  t.deepEqual(problems, []);
});

test('stages are reached only through the composers', (t) => {
  // Who imports each stage from outside it: only pipeline.ts, gateway.ts and cli/ may.
  const graph = importGraph();
  const outsiders: string[] = [];
  for (const [from, tos] of graph) {
    const f = groupOf(from);
    for (const to of tos) {
      const g = groupOf(to);
      if (g.kind !== 'stage' || (f.kind === 'stage' && f.name === g.name)) continue;
      if (f.kind !== 'composer') outsiders.push(`${from} -> ${to}`);
    }
  }
  t.deepEqual(outsiders, []);
});
