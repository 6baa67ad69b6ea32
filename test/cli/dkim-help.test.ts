// `phigate dkim keygen` for both algorithms (key file 0600, a TXT record whose key matches it), and the
// command line's manners: --help everywhere, unknown commands and options refused without a stack trace.
import test from 'ava';
import { mkdtempSync, readFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey, createPrivateKey, sign, verify } from 'node:crypto';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { cliInProcess as inProcess } from '../helpers/cli.js';
import { phigate, ONE_LINE_ERROR } from './kit.js';

function parseRecord(stdout: string, selector: string, domain: string): { chunks: string[]; tags: Record<string, string> } {
  const line = stdout.split('\n').find((l) => l.startsWith(`${selector}._domainkey.${domain}. IN TXT `));
  if (!line) throw new Error(`no TXT line in:\n${stdout}`);
  const chunks = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  const value = chunks.join('');
  const tags = Object.fromEntries(value.split(';').map((s) => s.trim()).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { chunks, tags };
}

test('dkim keygen rsa: key file 0600 under --out, the TXT p= is base64 SPKI of the same key', async (t) => {
  const out = join(mkdtempSync(join(tmpdir(), 'phigate-dkim-')), 'keys');
  const r = await phigate(['dkim', 'keygen', '--domain', 'Clinic.Test', '--selector', '2026-11', '--out', out]);
  t.is(r.code, 0, r.stderr);
  const file = join(out, 'clinic.test.2026-11.key');
  t.true(r.stdout.startsWith(`wrote ${file} (mode 0600)\n`), r.stdout);
  t.is(statSync(file).mode & 0o777, 0o600);
  t.is(statSync(out).mode & 0o777, 0o700);
  const { chunks, tags } = parseRecord(r.stdout, '2026-11', 'Clinic.Test');
  t.true(chunks.length >= 2 && chunks.every((c) => c.length <= 255), 'split into DNS strings of at most 255');
  t.is(tags['v'], 'DKIM1');
  t.is(tags['k'], 'rsa');
  const pub = createPublicKey({ key: Buffer.from(tags['p']!, 'base64'), format: 'der', type: 'spki' });
  t.is(pub.asymmetricKeyType, 'rsa');
  t.is(pub.asymmetricKeyDetails?.modulusLength, 2048);
  const priv = createPrivateKey(readFileSync(file));
  const sig = sign('sha256', Buffer.from('dkim'), priv);
  t.true(verify('sha256', Buffer.from('dkim'), pub, sig), 'the published key verifies what the key file signs');
  t.regex(r.stdout, /algorithm: rsa-sha256 \}/);

  // an existing key is not overwritten without --force
  const again = await phigate(['dkim', 'keygen', '--domain', 'clinic.test', '--selector', '2026-11', '--out', out]);
  t.is(again.code, 1);
  t.regex(again.stderr, ONE_LINE_ERROR);
  t.regex(again.stderr, /exists; use --force/);
  t.is(readFileSync(file, 'utf8'), priv.export({ type: 'pkcs8', format: 'pem' }).toString(), 'the old key is untouched');
});

test('dkim keygen ed25519: p= is the 32 raw bytes of the public key', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'phigate-dkim-'));
  const r = await phigate(['dkim', 'keygen', '--domain', 'lab.test', '--selector', 'e1', '--algorithm', 'ed25519-sha256', '--out', out]);
  t.is(r.code, 0, r.stderr);
  const file = join(out, 'lab.test.e1.key');
  t.is(statSync(file).mode & 0o777, 0o600);
  const { tags } = parseRecord(r.stdout, 'e1', 'lab.test');
  t.is(tags['k'], 'ed25519');
  const raw = Buffer.from(tags['p']!, 'base64');
  t.is(raw.length, 32);
  const priv = createPrivateKey(readFileSync(file));
  t.is(priv.asymmetricKeyType, 'ed25519');
  const fromFile = createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32);
  t.deepEqual(raw, Buffer.from(fromFile));

  const bad = await phigate(['dkim', 'keygen', '--domain', 'lab.test', '--selector', 'e2', '--algorithm', 'dsa', '--out', out]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, ONE_LINE_ERROR);
  t.false(existsSync(join(out, 'lab.test.e2.key')));
});

function leaves(c: Command, path: string[] = []): string[][] {
  const subs = c.commands.filter((s) => s.name() !== 'help');
  if (!subs.length) return [path];
  return [...(path.length ? [path] : []), ...subs.flatMap((s) => leaves(s, [...path, s.name()]))];
}

test.serial('--help on every command exits 0 and every subcommand that runs mentions --config', async (t) => {
  const all = leaves(buildProgram());
  t.true(all.length >= 12, all.map((p) => p.join(' ')).join(', '));
  const isGroup = (p: string[]) => all.some((q) => q.length > p.length && p.every((x, i) => q[i] === x));
  for (const p of [...all, []]) {
    const r = await inProcess([...p, '--help']);
    t.is(r.code, 0, `${p.join(' ')}: ${r.stderr}`);
    t.regex(r.stdout, new RegExp(`^Usage: phigate${p.length ? ' ' + p.join(' ') : ''} `), p.join(' '));
    t.is(r.stderr, '');
    if (!isGroup(p) && p.length) t.regex(r.stdout, /--config <file>/, `${p.join(' ')} --help mentions --config`);
  }
  // and the real binary, for its exit status
  for (const p of [[], ['queue'], ['queue', 'list'], ['audit', 'query'], ['user', 'add']]) {
    const r = await phigate([...p, '--help']);
    t.is(r.code, 0, p.join(' '));
    t.is(r.stdout, (await inProcess([...p, '--help'])).stdout);
  }
});

test('unknown commands and options, and missing arguments, exit non-zero with a short message and no stack', async (t) => {
  const cases = [
    ['frobnicate'],
    ['queue', 'frobnicate'],
    ['queue', 'list', '--frobnicate'],
    ['user', 'add'],
    ['dkim', 'keygen', '--domain', 'x.test'],
    ['audit', 'query', '--limit'],
  ];
  for (const args of cases) {
    const r = await phigate(args);
    t.not(r.code, 0, args.join(' '));
    t.is(r.stdout, '', args.join(' '));
    t.regex(r.stderr, ONE_LINE_ERROR, args.join(' '));
    t.notRegex(r.stderr, /\bat \S+ \(|^\s+at /m, 'no stack frames');
  }
});
