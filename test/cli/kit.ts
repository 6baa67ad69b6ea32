// Shared set-up for the CLI tests: the real `phigate` binary with a known admin name (the audit actor), and the
// audit as the CLI itself prints it.
import { cli } from '../helpers/cli.js';

export const ACTOR = 'ops-admin-test';
/** adminName() reads SUDO_USER first, then USER. */
export const ADMIN_ENV = { SUDO_USER: '', USER: ACTOR };

export function phigate(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return cli(args, input, ADMIN_ENV);
}

export interface JsonEvent {
  seq: number; time: string; event: string; queueId: string | null; messageId: string | null; sender: string | null;
  recipient: string | null; recipients?: string[]; actor: string | null; details: Record<string, unknown>; hash: string;
}

/**
 * `phigate audit query --format json` with the given filters, through bin/phigate.js. Never in this process: the
 * tests run their gateway in process, and a second LMDB environment on the same files in one process can
 * deadlock (opening the CLI's databases takes LMDB's write lock on the main thread while the gateway's write
 * thread holds it and waits for that same thread to run its transaction).
 */
export async function auditJson(configFile: string, filters: string[] = []): Promise<JsonEvent[]> {
  const args = ['audit', 'query', '--config', configFile, '--format', 'json', ...filters];
  const r = await phigate(args);
  if (r.code !== 0) throw new Error(`audit query failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonEvent);
}

/** One line on stderr, prefixed "phigate: " or commander's "error: ", and no stack frames. */
export const ONE_LINE_ERROR = /^(phigate|error): [^\n]+\n((\(add --help for usage\))\n)?$/;
