// Owns the `phigate` command line: one subcommand group per file, and the rule that every error is one clear
// line on stderr with a non-zero exit (never a stack trace).
import { Command, CommanderError } from 'commander';
import { registerStart } from './start.js';
import { registerUser } from './user.js';
import { registerDkim } from './dkim.js';
import { registerQueue } from './queue.js';
import { registerAudit } from './audit.js';
import { registerScan } from './scan.js';
import { registerPolicy } from './policy.js';
import { registerQuarantine } from './quarantine.js';
import { registerKeys } from './keys.js';
import { registerMasterKey } from './master-key.js';
import { registerPortal } from './portal.js';
import { isPhigateError, FileProblemsError } from '../errors.js';

export function buildProgram(): Command {
  const program = new Command('phigate')
    .description('phigate: SMTP gateway for HIPAA-regulated email')
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  registerStart(program);
  registerUser(program);
  registerDkim(program);
  registerQueue(program);
  registerAudit(program);
  registerScan(program);
  registerPolicy(program);
  registerQuarantine(program);
  registerKeys(program);
  registerMasterKey(program);
  registerPortal(program);
  program.commands.forEach(function override(c: Command) { c.exitOverride(); c.commands.forEach(override); });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed its message (or the help / version)
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof FileProblemsError) {
      for (const p of e.problems) process.stderr.write(`phigate: ${p.file}:${p.line}:${p.col} ${p.message}\n`);
      return e.exitCode;
    }
    if (isPhigateError(e)) {
      process.stderr.write(`phigate: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`phigate: unexpected error: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  }
}
