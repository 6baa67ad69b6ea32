// Owns what every subcommand shares: the --config option, the admin's name for the audit, output helpers.
import { userInfo } from 'node:os';
import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { openStore, type Store } from '../store.js';
import { readKeyring } from '../master-key.js';

export function withConfig(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'config file (default: $PHIGATE_CONFIG or config/phigate.yaml)');
}

export function configOf(cmd: Command): Config {
  const opts = cmd.optsWithGlobals() as { config?: string };
  return loadConfig(opts.config);
}

export function adminName(): string {
  return process.env.SUDO_USER || process.env.USER || userInfo().username;
}

export async function withStore<T>(config: Config, fn: (store: Store) => Promise<T> | T): Promise<T> {
  // the master key is read only if the command touches message bytes
  const store = openStore(config.dataDir, { keyring: () => readKeyring(config.portal.masterKey) });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function print(line: string): void {
  process.stdout.write(line + '\n');
}

/** Fixed-width table for humans. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(headers), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n');
}
