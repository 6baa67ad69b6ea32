// Owns `phigate keys import|list|remove` (recipients' OpenPGP public keys) and `phigate certs import|list|remove`
// (recipients' S/MIME certificates). Unusable keys and certificates are refused with the reason; every change is
// audited with the admin's name. A running gateway uses a new key for the next message to that recipient.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { PhigateError } from '../errors.js';
import { appendDurable } from '../audit/append.js';
import { adminName, configOf, print, table, withConfig, withStore } from './common.js';

// loaded when a keys or certs command runs: openpgp and node-forge would slow every other command's start
const keystore = () => import('../transform/keystore.js');

function readInput(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new PhigateError('USAGE', `${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('recipients\' OpenPGP public keys (for encrypt: [pgp])');
  withConfig(keys.command('import <file>'))
    .description('import an armored OpenPGP public key (.asc); expired, revoked and signing-only keys are refused')
    .action(async (file: string, _o, cmd: Command) => {
      const text = readInput(file).toString('utf8');
      await withStore(configOf(cmd), async (store) => {
        const info = await (await keystore()).importPgpKey(store, text);
        await appendDurable(store, [{ event: 'keys-import', actor: adminName(), details: { fingerprint: info.fingerprint, emails: info.emails, expires: info.expires, algorithm: info.algorithm } }]);
        print(`imported ${info.fingerprint} for ${info.emails.join(', ')}${info.expires ? ` (expires ${info.expires})` : ''}`);
      });
    });
  withConfig(keys.command('list'))
    .description('list imported keys')
    .option('--json', 'one JSON object per line')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const { listPgpKeys } = await keystore();
      await withStore(configOf(cmd), (store) => {
        const all = listPgpKeys(store);
        if (o.json) return all.forEach((k) => print(JSON.stringify(k)));
        if (!all.length) return print('no keys');
        print(table(['FINGERPRINT', 'EMAILS', 'ALGORITHM', 'CREATED', 'EXPIRES'], all.map((k) => [k.fingerprint, k.emails.join(', '), k.algorithm, k.created.slice(0, 10), k.expires?.slice(0, 10) ?? 'never'])));
      });
    });
  withConfig(keys.command('remove <fingerprint>'))
    .description('remove a key by its fingerprint')
    .action(async (fp: string, _o, cmd: Command) => {
      await withStore(configOf(cmd), async (store) => {
        if (!(await (await keystore()).removePgpKey(store, fp))) throw new PhigateError('KEY_NOT_FOUND', `no key ${fp} (see: phigate keys list)`);
        await appendDurable(store, [{ event: 'keys-remove', actor: adminName(), details: { fingerprint: fp.replace(/\s+/g, '').toUpperCase() } }]);
        print(`removed ${fp}`);
      });
    });

  const certs = program.command('certs').description('recipients\' S/MIME certificates (for encrypt: [smime])');
  withConfig(certs.command('import <file>'))
    .description('import certificates (.pem, .crt, .der or .p7b); expired ones and ones not for email protection are refused')
    .action(async (file: string, _o, cmd: Command) => {
      const data = readInput(file);
      await withStore(configOf(cmd), async (store) => {
        const infos = await (await keystore()).importCerts(store, data);
        await appendDurable(store, infos.map((c) => ({ event: 'certs-import' as const, actor: adminName(), details: { fingerprint: c.fingerprint, emails: c.emails, notAfter: c.notAfter } })));
        for (const c of infos) print(`imported ${c.fingerprint} for ${c.emails.join(', ')} (valid until ${c.notAfter})`);
      });
    });
  withConfig(certs.command('list'))
    .description('list imported certificates')
    .option('--json', 'one JSON object per line')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const { listCerts } = await keystore();
      await withStore(configOf(cmd), (store) => {
        const all = listCerts(store);
        if (o.json) return all.forEach((c) => print(JSON.stringify(c)));
        if (!all.length) return print('no certificates');
        print(table(['FINGERPRINT (SHA-256)', 'EMAILS', 'SUBJECT', 'VALID UNTIL'], all.map((c) => [c.fingerprint, c.emails.join(', '), c.subject, c.notAfter.slice(0, 10)])));
      });
    });
  withConfig(certs.command('remove <fingerprint>'))
    .description('remove a certificate by its SHA-256 fingerprint')
    .action(async (fp: string, _o, cmd: Command) => {
      await withStore(configOf(cmd), async (store) => {
        if (!(await (await keystore()).removeCert(store, fp))) throw new PhigateError('CERT_NOT_FOUND', `no certificate ${fp} (see: phigate certs list)`);
        await appendDurable(store, [{ event: 'certs-remove', actor: adminName(), details: { fingerprint: fp.replace(/[\s:]+/g, '').toUpperCase() } }]);
        print(`removed ${fp}`);
      });
    });
}
