// Owns the first-start server certificate: when the configured cert and key are both missing, a self-signed
// RSA-2048 certificate for the hostname is written there (key mode 0600). Replace it with a real one.
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { PhigateError } from '../errors.js';

export function selfSignedPem(hostname: string, days = 365): { key: string; cert: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + days * 86_400_000);
  const attrs = [{ name: 'commonName', value: hostname }, { name: 'organizationName', value: 'phigate self-signed' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { key: keyPem, cert: forge.pki.certificateToPem(cert) };
}

/** Reads the server key and certificate, creating a self-signed pair on first start. Returns whether it did. */
export function ensureServerCert(certFile: string, keyFile: string, hostname: string): { key: Buffer; cert: Buffer; created: boolean } {
  const haveCert = existsSync(certFile);
  const haveKey = existsSync(keyFile);
  let created = false;
  if (!haveCert && !haveKey) {
    const pair = selfSignedPem(hostname);
    mkdirSync(dirname(certFile), { recursive: true });
    mkdirSync(dirname(keyFile), { recursive: true });
    writeFileSync(keyFile, pair.key, { mode: 0o600 });
    writeFileSync(certFile, pair.cert, { mode: 0o644 });
    created = true;
  } else if (haveCert !== haveKey) {
    throw new PhigateError('TLS_FILES', `${haveCert ? keyFile : certFile} is missing while ${haveCert ? certFile : keyFile} exists; provide both or neither`);
  }
  try {
    return { key: readFileSync(keyFile), cert: readFileSync(certFile), created };
  } catch (e) {
    throw new PhigateError('TLS_FILES', `cannot read TLS files: ${(e as Error).message}`);
  }
}
