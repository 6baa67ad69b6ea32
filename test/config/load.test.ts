// Broken config files, each through the real CLI (`phigate queue list --config FILE`): a non-zero exit, no
// output on stdout, and on stderr exactly `phigate: FILE:LINE:COL message` per problem, never a stack trace.
// The same base file with no change loads (the control), so each failure comes from the one edit shown.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli as runCli, cliInProcess } from '../helpers/cli.js';
import { parseConfig } from '../../src/config/load.js';
import { FileProblemsError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'phigate-cfg-'));

const BASE = `hostname: gw.phigate.test
dataDir: ${join(dir, 'data')}
listen:
  submission:
    host: 127.0.0.1
    port: 2587
  relay:
    host: 127.0.0.1
    port: 2525
    trustedNetworks:
      - 127.0.0.0/8
      - ::1/128
tls:
  cert: ${join(dir, 'server.crt')}
  key: ${join(dir, 'server.key')}
users: ${join(dir, 'users.yaml')}
auth:
  maxFailures: 5
  window: 15m
outbound:
  routes:
    "*": mx
  tls:
    "*": verify
  retry:
    schedule: [1m, 5m]
    maxAge: 5d
`;

let n = 0;
function write(text: string): string {
  const file = join(dir, `case${++n}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** 1-based line and column of `needle` inside the line that contains `lineMark`. */
function at(text: string, lineMark: string, needle = lineMark.trim()): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(lineMark));
  if (i < 0) throw new Error(`no line with ${lineMark}`);
  return `${i + 1}:${lines[i]!.indexOf(needle) + 1}`;
}

/** Checks the exact stderr of `phigate queue list --config FILE`: the real binary, or main() in this process
 * for the extra variants of a case (same code, without a Node start-up each). */
async function expectProblems(t: import('ava').ExecutionContext, text: string, lines: (file: string) => string[], how: 'binary' | 'in-process' = 'binary') {
  const file = write(text);
  const r = await (how === 'binary' ? runCli : cliInProcess)(['queue', 'list', '--config', file]);
  t.is(r.code, 1, r.stderr);
  t.is(r.stdout, '');
  t.is(r.stderr, lines(file).map((l) => `phigate: ${l}\n`).join(''));
  t.notRegex(r.stderr, /^\s+at /m, 'no stack frames');
}

test('the unedited base config loads (control)', async (t) => {
  const r = await runCli(['queue', 'list', '--config', write(BASE)]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'queue is empty\n');
  t.is(r.stderr, '');
});

test('an unknown top-level key names the key and the allowed ones', async (t) => {
  const text = BASE.replace('users:', 'colour: blue\nusers:');
  await expectProblems(t, text, (f) => [`${f}:${at(text, 'colour:')} unknown key "colour" (expected one of: hostname, dataDir, listen, tls, users, auth, limits, outbound, encryption, portal, dkim, policies, log, shutdownTimeout, inspect)`]);
});

test('an unknown nested key is located at that key', async (t) => {
  const text = BASE.replace('  window: 15m\n', '  window: 15m\n  windw: 1m\n');
  await expectProblems(t, text, (f) => [`${f}:${at(text, 'windw:')} unknown key "windw"; did you mean "window"? (expected one of: maxFailures, window, lockout)`]);
  const text2 = BASE.replace('    port: 2525\n', '    port: 2525\n    trustedNetwork: [10.0.0.0/8]\n');
  await expectProblems(t, text2, (f) => [`${f}:${at(text2, 'trustedNetwork:')} unknown key "trustedNetwork"; did you mean "trustedNetworks"? (expected one of: host, port, maxConnectionsPerIp, trustedNetworks)`], 'in-process');
});

test('a bad enum value (outbound.tls "sometimes") lists the allowed values', async (t) => {
  const text = BASE.replace('"*": verify', '"*": sometimes');
  await expectProblems(t, text, (f) => [`${f}:${at(text, 'sometimes')} "*" must be one of: none, may, encrypt, verify`]);
});

test('a bad duration says what a duration looks like', async (t) => {
  const text = BASE.replace('window: 15m', 'window: 15 minutes');
  await expectProblems(t, text, (f) => [`${f}:${at(text, '15 minutes')} "window" must be a duration such as 30s, 5m, 4h or 5d`]);
  const text2 = BASE.replace('schedule: [1m, 5m]', 'schedule: [1m, 5x]');
  await expectProblems(t, text2, (f) => [`${f}:${at(text2, 'schedule:', '5x')} "1" must be a duration such as 30s, 5m, 4h or 5d`], 'in-process');
});

test('a timer duration over 24 days is refused (Node would fire it at once)', async (t) => {
  const text = BASE.replace('auth:', 'limits:\n  idleTimeout: 30d\nauth:');
  await expectProblems(t, text, (f) => [`${f}:${at(text, '30d')} "idleTimeout" must be at most 24d`], 'in-process');
  t.notThrows(() => parseConfig('/x/p.yaml', BASE.replace('auth:', 'limits:\n  idleTimeout: 24d\nauth:')));
});

test('a port out of range, or not a number', async (t) => {
  const text = BASE.replace('port: 2587', 'port: 70000');
  await expectProblems(t, text, (f) => [`${f}:${at(text, '70000')} "port" must be <= 65535`]);
  const text2 = BASE.replace('port: 2587', 'port: smtp');
  await expectProblems(t, text2, (f) => [`${f}:${at(text2, 'port: smtp', 'smtp')} "port" must be a port number (0 picks a free one)`], 'in-process');
});

test('a bad CIDR in trustedNetworks, including an octal shorthand', async (t) => {
  const text = BASE.replace('- 127.0.0.0/8', '- 127.0.0.0/33');
  await expectProblems(t, text, (f) => [`${f}:${at(text, '127.0.0.0/33')} "127.0.0.0/33" is not a network in CIDR form such as 10.0.0.0/8 or ::1/128`]);
  const text2 = BASE.replace('- 127.0.0.0/8', '- 010.0.0.0/8');
  await expectProblems(t, text2, (f) => [`${f}:${at(text2, '010.0.0.0/8')} "010.0.0.0/8" is not a network in CIDR form such as 10.0.0.0/8 or ::1/128`], 'in-process');
});

test('YAML syntax errors are located', async (t) => {
  const text = BASE.replace('  window: 15m', '\twindow: 15m');
  await expectProblems(t, text, (f) => [`${f}:${at(text, '\twindow', '\t')} Tabs are not allowed as indentation`]);
  const text2 = BASE.replace('hostname: gw.phigate.test', 'hostname: gw.phigate.test\nhostname: other.test');
  await expectProblems(t, text2, (f) => [`${f}:${at(text2, 'hostname: other')} Map keys must be unique`], 'in-process');
});

test('a missing required key, top-level and nested', async (t) => {
  const text = BASE.replace(/^users: .*\n/m, '');
  await expectProblems(t, text, (f) => [`${f}:1:1 missing required key "users"`]);
  // nested: located at the start of the map that lacks it (the line after "relay:", column 5)
  const text2 = BASE.replace(/^ {4}trustedNetworks:\n(.*\n){2}/m, '');
  const relayLine = text2.split('\n').indexOf('  relay:') + 1;
  await expectProblems(t, text2, (f) => [`${f}:${relayLine + 1}:5 missing required key "trustedNetworks" in "listen.relay"`], 'in-process');
});

test('two listeners on the same port (and a wildcard host clashing with a specific one)', async (t) => {
  const text = BASE.replace('port: 2587', 'port: 2525');
  const line = text.split('\n').findIndex((l) => l === '  relay:') + 3;
  await expectProblems(t, text, (f) => [`${f}:${line}:11 port 2525 on 127.0.0.1 is already used by listener "submission" (127.0.0.1:2525)`]);
  const text2 = BASE.replace('port: 2587', 'port: 2525').replace('    host: 127.0.0.1\n    port: 2525\n', '    host: 0.0.0.0\n    port: 2525\n');
  await expectProblems(t, text2, (f) => [`${f}:${line}:11 port 2525 on 127.0.0.1 is already used by listener "submission" (0.0.0.0:2525)`], 'in-process');
});

test('several problems: one line each, in file order', async (t) => {
  const text = BASE.replace('port: 2587', 'port: 70000').replace('"*": verify', '"*": sometimes').replace('users:', 'colour: blue\nusers:');
  await expectProblems(t, text, (f) => [
    `${f}:${at(text, '70000')} "port" must be <= 65535`,
    `${f}:${at(text, 'colour:')} unknown key "colour" (expected one of: hostname, dataDir, listen, tls, users, auth, limits, outbound, encryption, portal, dkim, policies, log, shutdownTimeout, inspect)`,
    `${f}:${at(text, 'sometimes')} "*" must be one of: none, may, encrypt, verify`,
  ]);
});

test('a missing config file is one line naming the file and how to choose another', async (t) => {
  const file = join(dir, 'does-not-exist.yaml');
  const r = await runCli(['queue', 'list', '--config', file]);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.is(r.stderr, `phigate: ${file}: config file not found (use --config FILE or PHIGATE_CONFIG)\n`);
  const env = await runCli(['queue', 'list'], undefined, { PHIGATE_CONFIG: file });
  t.is(env.code, 1);
  t.is(env.stderr, `phigate: ${file}: config file not found (use --config FILE or PHIGATE_CONFIG)\n`);
});

test('parseConfig raises FileProblemsError with the same problems, and resolves defaults for a good file', (t) => {
  const e = t.throws(() => parseConfig('/x/p.yaml', BASE.replace('"*": verify', '"*": sometimes')), { instanceOf: FileProblemsError }) as FileProblemsError;
  t.deepEqual(e.problems, [{ file: '/x/p.yaml', line: 24, col: 10, message: '"*" must be one of: none, may, encrypt, verify' }]);
  t.is(e.code, 'CONFIG_INVALID');
  const c = parseConfig('/x/p.yaml', BASE);
  t.deepEqual(c.listeners.map((l) => [l.name, l.port, l.maxConnectionsPerIp]), [['submission', 2587, 20], ['relay', 2525, 20]]);
  t.is(c.auth.windowMs, 900_000);
  t.is(c.auth.lockoutMs, 900_000);
  t.is(c.limits.maxMessageSize, 25 * 1024 * 1024);
  t.deepEqual(c.outbound.retry.scheduleMs, [60_000, 300_000]);
  t.is(c.outbound.retry.maxAgeMs, 5 * 86_400_000);
  t.is(c.tls.minVersion, 'TLSv1.2');
  const syntax = t.throws(() => parseConfig('/x/p.yaml', 'a: [1, 2\n'), { instanceOf: FileProblemsError }) as FileProblemsError;
  t.is(syntax.code, 'CONFIG_SYNTAX');
});
