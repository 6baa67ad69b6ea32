// `phigate user add|list|remove` through the real binary: the users file holds a scrypt hash that verifies the
// password and never the password itself, mode 0600; refusals are one line with exit 1; every change is an
// `admin` audit event naming the admin.
import test from 'ava';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { parse } from 'yaml';
import { makeGatewayDir } from '../helpers/gateway.js';
import { verifyPassword } from '../../src/listener/users.js';
import { phigate, auditJson, ACTOR, ONE_LINE_ERROR } from './kit.js';

const PASSWORD = 'a long and secret passphrase';

test('user add --password-stdin writes a scrypt hash (mode 0600) that verifies, never the password', async (t) => {
  const d = makeGatewayDir();
  const users = d.config['users'] as string;
  const r = await phigate(['user', 'add', 'alice', '--password-stdin', '--config', d.configFile], PASSWORD + '\n');
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `added user alice in ${users}\n`);
  t.is(r.stderr, '');
  t.is(statSync(users).mode & 0o777, 0o600);
  const text = readFileSync(users, 'utf8');
  t.false(text.includes(PASSWORD), 'no plain password in the file');
  t.false(text.includes(Buffer.from(PASSWORD).toString('base64')));
  const doc = parse(text) as { users: Record<string, { hash: string; created: string }> };
  const hash = doc.users['alice']!.hash;
  t.regex(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
  t.true(await verifyPassword(PASSWORD, hash), 'the hash is of the password given on stdin (newline stripped)');
  t.false(await verifyPassword(PASSWORD + '\n', hash));
  t.false(Number.isNaN(Date.parse(doc.users['alice']!.created)));

  // a second add of the same name changes the password and says so
  const again = await phigate(['user', 'add', 'alice', '--password-stdin', '--config', d.configFile], 'another long passphrase\n');
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, `updated password for user alice in ${users}\n`);
  const hash2 = (parse(readFileSync(users, 'utf8')) as { users: Record<string, { hash: string }> }).users['alice']!.hash;
  t.true(await verifyPassword('another long passphrase', hash2));
  t.false(await verifyPassword(PASSWORD, hash2));
});

test('a short password is refused with exit 1 and one line; nothing is written', async (t) => {
  const d = makeGatewayDir();
  const r = await phigate(['user', 'add', 'bob', '--password-stdin', '--config', d.configFile], 'short\n');
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.is(r.stderr, 'phigate: password must be at least 12 characters\n');
  t.false(existsSync(d.config['users'] as string));
  const bad = await phigate(['user', 'add', 'bad name', '--password-stdin', '--config', d.configFile], PASSWORD);
  t.is(bad.code, 1);
  t.regex(bad.stderr, ONE_LINE_ERROR);
  t.regex(bad.stderr, /user name "bad name" is invalid/);
});

test('user list shows names and dates, never hashes; remove drops a user; an unknown user is one line, exit 1', async (t) => {
  const d = makeGatewayDir();
  const empty = await phigate(['user', 'list', '--config', d.configFile]);
  t.is(empty.code, 0);
  t.regex(empty.stdout, /^no users in /);
  for (const n of ['carol', 'dave']) t.is((await phigate(['user', 'add', n, '--password-stdin', '--config', d.configFile], PASSWORD)).code, 0);
  const list = await phigate(['user', 'list', '--config', d.configFile]);
  t.is(list.code, 0, list.stderr);
  const rows = list.stdout.trim().split('\n');
  t.regex(rows[0]!, /^USER\s+CREATED$/);
  t.deepEqual(rows.slice(2).map((l) => l.split(/\s+/)[0]), ['carol', 'dave']);
  t.notRegex(list.stdout, /scrypt|\$16384\$/);

  const rm = await phigate(['user', 'remove', 'carol', '--config', d.configFile]);
  t.is(rm.code, 0, rm.stderr);
  t.is(rm.stdout, 'removed user carol\n');
  const after = await phigate(['user', 'list', '--config', d.configFile]);
  t.deepEqual(after.stdout.trim().split('\n').slice(2).map((l) => l.split(/\s+/)[0]), ['dave']);
  t.is(statSync(d.config['users'] as string).mode & 0o777, 0o600, 'still 0600 after a rewrite');

  const unknown = await phigate(['user', 'remove', 'zed', '--config', d.configFile]);
  t.is(unknown.code, 1);
  t.is(unknown.stdout, '');
  t.is(unknown.stderr, `phigate: no user "zed" in ${d.config['users']}\n`);

  // each change is an admin event naming the admin and the user, never a hash or password
  const admin = (await auditJson(d.configFile, ['--event', 'admin'])).filter((e) => e.actor === ACTOR);
  t.deepEqual(admin.map((e) => [e.details['action'], e.details['user']]), [['user-added', 'carol'], ['user-added', 'dave'], ['user-removed', 'carol']]);
  const all = JSON.stringify(await auditJson(d.configFile));
  t.false(all.includes(PASSWORD));
  t.false(all.includes('scrypt$'));
});
