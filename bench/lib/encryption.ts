// Owns the benchmark's encryption set-up: a recipient key (OpenPGP, made with openpgp) or certificate (S/MIME,
// made with the openssl CLI) for smtp-source's recipient, imported into a fresh gateway data store, and a policy
// that encrypts every message with that one method, so the run measures encryption on the delivery path.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey } from 'openpgp';
import { openStore } from '../../src/store.js';
import { importPgpKey, importCerts } from '../../src/transform/keystore.js';
import { mustRun } from './proc.js';
import { RECIPIENT } from './source.js';

export type Method = 'pgp' | 'smime';

/** Puts the recipient's key or certificate into dataDir's store (before the gateway opens it). */
export async function prepareRecipientKey(dataDir: string, method: Method, work: string): Promise<void> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const store = openStore(dataDir);
  try {
    if (method === 'pgp') {
      const { publicKey } = await generateKey({ type: 'rsa', rsaBits: 2048, userIDs: [{ name: 'Bench Recipient', email: RECIPIENT }], format: 'armored' });
      await importPgpKey(store, publicKey);
    } else {
      const ext = join(work, 'smime.cnf');
      writeFileSync(ext, `[req]\ndistinguished_name=dn\nx509_extensions=v3\nprompt=no\n[dn]\nCN=Bench Recipient\n[v3]\nsubjectAltName=email:${RECIPIENT}\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\n`);
      await mustRun('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-config', ext,
        '-keyout', join(work, 'smime.key'), '-out', join(work, 'smime.crt')]);
      await importCerts(store, readFileSync(join(work, 'smime.crt')));
    }
  } finally {
    await store.close();
  }
}

/** A policy folder where every message is encrypted with `method` (no fallback: a missing key would hold it). */
export function encryptAllPolicy(method: Method): (dir: string) => void {
  return (dir) => writeFileSync(join(dir, '10-encrypt.yaml'), `rules:\n  - id: encrypt-all\n    then: { encrypt: [${method}] }\n`);
}
