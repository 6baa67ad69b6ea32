// Test CA made with the real openssl CLI: a CA and a server certificate for localhost/127.0.0.1 signed by it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  caCertFile: string;
  caCert: string;
  serverKeyFile: string;
  serverCertFile: string;
  serverKey: string;
  serverCert: string;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

export function makeTestCa(names: string[] = ['localhost'], dir = mkdtempSync(join(tmpdir(), 'phigate-ca-'))): TestCa {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=phigate test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${names[0]}`], dir);
  const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf'], dir);
  return {
    dir,
    caCertFile: join(dir, 'ca.crt'),
    caCert: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    serverKeyFile: join(dir, 'server.key'),
    serverCertFile: join(dir, 'server.crt'),
    serverKey: readFileSync(join(dir, 'server.key'), 'utf8'),
    serverCert: readFileSync(join(dir, 'server.crt'), 'utf8'),
  };
}

/** A self-signed certificate that no test CA vouches for. */
export function makeSelfSigned(name = 'localhost', dir = mkdtempSync(join(tmpdir(), 'phigate-ss-'))): { key: string; cert: string } {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], dir);
  return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
}
