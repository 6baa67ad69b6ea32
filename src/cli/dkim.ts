// Owns `phigate dkim keygen`: writes a DKIM private key under certs/dkim/ and prints the DNS TXT record.
import type { Command } from 'commander';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PhigateError } from '../errors.js';
import { print, withConfig } from './common.js';

export function dkimKeyPair(algorithm: 'rsa-sha256' | 'ed25519-sha256'): { privatePem: string; record: string } {
  if (algorithm === 'ed25519-sha256') {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), record: `v=DKIM1; k=ed25519; p=${raw.toString('base64')}` };
  }
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), record: `v=DKIM1; k=rsa; p=${spki}` };
}

/** Splits a long TXT value into quoted strings of at most 255 characters, as DNS requires. */
export function txtChunks(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(`"${value.slice(i, i + 255)}"`);
  return parts.join(' ');
}

export function registerDkim(program: Command): void {
  const dkim = program.command('dkim').description('DKIM signing keys');
  withConfig(dkim.command('keygen'))
    .description('create a DKIM key under certs/dkim/ and print the DNS TXT record to publish')
    .requiredOption('--domain <domain>', 'signing domain (d=), usually the From domain')
    .requiredOption('--selector <selector>', 'selector (s=), e.g. the year and month: 2026-11')
    .option('--algorithm <alg>', 'rsa-sha256 or ed25519-sha256', 'rsa-sha256')
    .option('--out <dir>', 'directory for the key', 'certs/dkim')
    .option('--force', 'overwrite an existing key file')
    .action((o: { domain: string; selector: string; algorithm: string; out: string; force?: boolean }) => {
      if (o.algorithm !== 'rsa-sha256' && o.algorithm !== 'ed25519-sha256') throw new PhigateError('USAGE', `--algorithm must be rsa-sha256 or ed25519-sha256, not "${o.algorithm}"`);
      if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(o.domain)) throw new PhigateError('USAGE', `--domain "${o.domain}" is not a domain name`);
      if (!/^[A-Za-z0-9._-]+$/.test(o.selector)) throw new PhigateError('USAGE', `--selector "${o.selector}" may hold only letters, digits, dot, dash, underscore`);
      const file = resolve(join(o.out, `${o.domain.toLowerCase()}.${o.selector}.key`));
      if (existsSync(file) && !o.force) throw new PhigateError('DKIM_KEY', `${file} exists; use --force to replace it (and publish the new record)`);
      const { privatePem, record } = dkimKeyPair(o.algorithm);
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, privatePem, { mode: 0o600 });
      print(`wrote ${file} (mode 0600)`);
      print('');
      print('Publish this TXT record in DNS:');
      print(`${o.selector}._domainkey.${o.domain}. IN TXT ${txtChunks(record)}`);
      print('');
      print('Then add to the dkim list in your config file:');
      print(`  - { domain: ${o.domain}, selector: ${o.selector}, key: ${file}, algorithm: ${o.algorithm} }`);
    });
}
