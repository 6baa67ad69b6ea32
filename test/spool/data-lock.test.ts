// One gateway per data directory: a second lock (or a second `phigate start`) on a directory in use is refused
// with DATA_DIR_IN_USE naming the owner's pid; a lock left by a process that is gone, or whose pid now belongs to
// another process, is taken over; a stopped gateway lets go of it.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockDataDir, LOCK_FILE } from '../../src/spool/data-lock.js';
import { PhigateError } from '../../src/errors.js';
import { freePort, makeGatewayDir, runCli, startTestGateway } from '../helpers/gateway.js';
import { startChildGateway } from '../helpers/child-gateway.js';

test('a second lock is refused until the first is released', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-lock-'));
  const first = lockDataDir(dir);
  const e = t.throws(() => lockDataDir(dir), { instanceOf: PhigateError });
  t.is((e as PhigateError).code, 'DATA_DIR_IN_USE');
  t.regex(e!.message, new RegExp(`in use: a running phigate \\(pid ${process.pid}\\) holds it`));
  first.release();
  t.false(existsSync(join(dir, LOCK_FILE)));
  lockDataDir(dir).release();
});

test('a lock left by a process that is gone, or by a pid now used by another process, is taken over', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-lock-'));
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(join(dir, LOCK_FILE), `${gone.stdout} 12345\n`);
  const a = lockDataDir(dir);
  t.true(readFileSync(join(dir, LOCK_FILE), 'utf8').startsWith(`${process.pid} `));
  a.release();
  // our own pid, but not our start time: the pid was reused
  writeFileSync(join(dir, LOCK_FILE), `${process.pid} 1\n`);
  lockDataDir(dir).release();
  t.deepEqual(readdirSync(dir), [], 'nothing left behind: no lock, no file set aside');
});

test('a lock of a live process without a known start time, or written on another host, is not taken over', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'phigate-lock-'));
  writeFileSync(join(dir, LOCK_FILE), `${process.pid} ? ${hostname()}\n`);
  t.throws(() => lockDataDir(dir), { message: /a running phigate \(pid \d+\) holds it/ });
  writeFileSync(join(dir, LOCK_FILE), `1 12345 another-host.example\n`);
  t.throws(() => lockDataDir(dir), { message: /on host another-host\.example; if no gateway runs there any more, remove the file/ });
  t.deepEqual(readdirSync(dir), [LOCK_FILE], 'the file stays; nothing set aside is left');
});

test('phigate start on a data directory in use exits with one line naming the running gateway; after its stop it starts', async (t) => {
  const relay = await freePort();
  const d = makeGatewayDir({}, { submission: await freePort(), smtps: await freePort(), relay });
  const running = await startChildGateway(t, d.configFile, relay);
  const second = await runCli(['start', '--config', d.configFile]);
  t.not(second.code, 0);
  t.regex(second.stderr, new RegExp(`in use: a running phigate \\(pid ${running.pid}\\) holds it`));
  t.is(second.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
  process.kill(running.pid, 'SIGTERM');
  await new Promise((r) => running.child.once('exit', r));
  t.false(existsSync(join(d.config.dataDir as string, LOCK_FILE)), 'a clean stop removes the lock');
  const again = await startTestGateway(d);
  await again.stop();
  t.false(existsSync(join(d.config.dataDir as string, LOCK_FILE)));
});
