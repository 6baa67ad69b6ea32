// Owns `phigate user add|remove|list`: the SMTP AUTH users in the users file, each change audited.
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { hashPassword, loadUsers, saveUsers, validateUserName } from '../listener/users.js';
import { appendDurable } from '../audit/append.js';
import { PhigateError } from '../errors.js';
import { adminName, configOf, print, table, withConfig, withStore } from './common.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function promptHidden(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WriteStream };
  let asked = false;
  out._writeToOutput = (s: string) => { if (!asked) { process.stdout.write(s); asked = true; } };
  const answer = await new Promise<string>((res) => rl.question(question, res));
  rl.close();
  process.stdout.write('\n');
  return answer;
}

async function readPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) return (await readAll(process.stdin)).replace(/\r?\n$/, '');
  const a = await promptHidden('Password: ');
  const b = await promptHidden('Repeat password: ');
  if (a !== b) throw new PhigateError('PASSWORD_INVALID', 'the two passwords differ');
  return a;
}

export function registerUser(program: Command): void {
  const user = program.command('user').description('manage SMTP AUTH users (submission and smtps listeners)');
  withConfig(user.command('add <name>'))
    .description('add a user, or set a new password for an existing one')
    .option('--password-stdin', 'read the password from standard input instead of prompting')
    .action(async (name: string, o: { passwordStdin?: boolean }, cmd: Command) => {
      validateUserName(name);
      const config = configOf(cmd);
      const password = await readPassword(!!o.passwordStdin);
      const hash = await hashPassword(password);
      const users = loadUsers(config.users);
      const existed = users.has(name);
      users.set(name, { hash, created: new Date().toISOString() });
      saveUsers(config.users, users);
      await withStore(config, (s) => appendDurable(s, [{ event: 'admin', actor: adminName(), details: { action: existed ? 'user-password-changed' : 'user-added', user: name } }]));
      print(`${existed ? 'updated password for' : 'added'} user ${name} in ${config.users}`);
    });
  withConfig(user.command('remove <name>'))
    .description('remove a user')
    .action(async (name: string, _o, cmd: Command) => {
      const config = configOf(cmd);
      const users = loadUsers(config.users);
      if (!users.delete(name)) throw new PhigateError('USER_NOT_FOUND', `no user "${name}" in ${config.users}`);
      saveUsers(config.users, users);
      await withStore(config, (s) => appendDurable(s, [{ event: 'admin', actor: adminName(), details: { action: 'user-removed', user: name } }]));
      print(`removed user ${name}`);
    });
  withConfig(user.command('list'))
    .description('list users (names and creation dates; never hashes)')
    .action((_o, cmd: Command) => {
      const config = configOf(cmd);
      const users = loadUsers(config.users);
      if (!users.size) return print(`no users in ${config.users}; add one with: phigate user add NAME`);
      print(table(['USER', 'CREATED'], [...users].map(([n, r]) => [n, r.created])));
    });
}
