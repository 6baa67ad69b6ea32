// Owns the list files rules refer to (domains, addresses, patient consent lists) beside the policy files:
// .txt with one entry a line and # comments, or .csv whose header names the address column (address or email).
// An entry with an @ is an address; without, a domain (which also covers its subdomains).
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { FileProblem } from '../errors.js';

export interface AddressList {
  name: string;
  addresses: Set<string>;
  domains: Set<string>;
  /** raw bytes, for the policy set's version hash */
  text: string;
}

const CSV_COLUMNS = ['address', 'email', 'e-mail', 'mail'];

/** True when `domain` is `entry` or one of its subdomains. */
export function domainMatches(domain: string, entries: Set<string>): boolean {
  let d = domain;
  for (;;) {
    if (entries.has(d)) return true;
    const dot = d.indexOf('.');
    if (dot < 0) return false;
    d = d.slice(dot + 1);
  }
}

export function listHas(list: AddressList, address: string): boolean {
  const a = address.toLowerCase();
  if (list.addresses.has(a)) return true;
  const at = a.lastIndexOf('@');
  return domainMatches(at < 0 ? a : a.slice(at + 1), list.domains);
}

function add(list: AddressList, entry: string): void {
  const e = entry.trim().toLowerCase().replace(/^\*\./, '').replace(/^\./, '');
  if (!e) return;
  if (e.includes('@')) list.addresses.add(e);
  else list.domains.add(e);
}

/** Reads one list file named in a rule, relative to the policies folder. */
export function readList(dir: string, name: string, at: { file: string; line: number; col: number }): { list?: AddressList; problem?: FileProblem } {
  const problem = (message: string) => ({ problem: { ...at, message } });
  if (name !== basename(name) || !/\.(txt|csv)$/i.test(name)) return problem(`list "${name}" must be a .txt or .csv file name in the policies folder`);
  const path = join(dir, name);
  if (!existsSync(path)) return problem(`list file "${name}" not found in ${dir}`);
  const text = readFileSync(path, 'utf8');
  const list: AddressList = { name, addresses: new Set(), domains: new Set(), text };
  if (/\.txt$/i.test(name)) {
    for (const line of text.split(/\r?\n/)) add(list, line.replace(/#.*/, ''));
    return { list };
  }
  let rows: string[][];
  try {
    rows = parse(text, { skip_empty_lines: true, trim: true, relax_column_count: true, comment: '#' }) as string[][];
  } catch (e) {
    return problem(`list file "${name}" is not valid CSV: ${(e as Error).message}`);
  }
  const header = (rows[0] ?? []).map((h) => h.toLowerCase());
  const col = header.findIndex((h) => CSV_COLUMNS.includes(h));
  if (col < 0) return problem(`list file "${name}" needs a header row naming the address column (${CSV_COLUMNS.join(' or ')})`);
  for (const row of rows.slice(1)) if (row[col]) add(list, row[col]!);
  return { list };
}
