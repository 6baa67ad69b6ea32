// Real keys and certificates for the encryption tests: OpenPGP keys made by GnuPG in a temporary GNUPGHOME, and an
// S/MIME test CA with certificates issued by the openssl CLI (`openssl ca`, which in OpenSSL 3.0 is the way to set
// a start and end date in the past; `x509 -req -not_before` arrived in 3.4).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// ---- GnuPG --------------------------------------------------------------------------------------------------------

export interface GpgHome { home: string }

export function gpgHome(): GpgHome {
  const home = mkdtempSync(join(tmpdir(), 'phigate-gpg-'));
  return { home };
}

export function gpg(h: GpgHome, args: string[], input?: Buffer | string): Buffer {
  return execFileSync('gpg', ['--batch', '--no-tty', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], {
    env: { ...process.env, GNUPGHOME: h.home },
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

export interface GpgKey { fingerprint: string; publicArmored: string }

function fingerprintOf(h: GpgHome, uid: string): string {
  const lines = gpg(h, ['--with-colons', '--list-keys', `=${uid}`]).toString('utf8').split('\n');
  const fpr = lines.find((l) => l.startsWith('fpr:'));
  if (!fpr) throw new Error(`no key for ${uid}`);
  return fpr.split(':')[9]!;
}

export function exportPublic(h: GpgHome, fingerprint: string): string {
  return gpg(h, ['--armor', '--export', fingerprint]).toString('utf8');
}

/**
 * A key made by `gpg --quick-gen-key uid algo usage expire`. With an explicit algorithm (rsa2048, ed25519) GnuPG
 * makes a primary key only, for signing and certifying; `encryptSubkey` adds an encryption subkey with
 * --quick-add-key (as `futuredefault` does by itself: ed25519 primary + cv25519 subkey). `fakedTime`
 * (e.g. 20200101T000000) makes GnuPG believe it is then, for keys that have expired by now.
 */
export function makeGpgKey(h: GpgHome, uid: string, opts: { algo?: string; usage?: string; expire?: string; encryptSubkey?: string; fakedTime?: string } = {}): GpgKey {
  const faked = opts.fakedTime ? ['--faked-system-time', opts.fakedTime] : [];
  const expire = opts.expire ?? 'never';
  gpg(h, [...faked, '--quick-gen-key', uid, opts.algo ?? 'rsa2048', opts.usage ?? 'default', expire]);
  const fingerprint = fingerprintOf(h, uid);
  if (opts.encryptSubkey) gpg(h, [...faked, '--quick-add-key', fingerprint, opts.encryptSubkey, 'encr', expire]);
  return { fingerprint, publicArmored: exportPublic(h, fingerprint) };
}

/** Imports the revocation certificate GnuPG wrote when it made the key, and returns the revoked public key. */
export function revokeGpgKey(h: GpgHome, fingerprint: string): string {
  const dir = join(h.home, 'openpgp-revocs.d');
  const file = readdirSync(dir).find((f) => f.toUpperCase() === `${fingerprint.toUpperCase()}.REV`);
  if (!file) throw new Error(`no revocation certificate for ${fingerprint}`);
  // GnuPG prefixes the armor line with ':' so that the file is not imported by accident.
  const cert = readFileSync(join(dir, file), 'utf8').replace(/^:-----BEGIN/m, '-----BEGIN');
  gpg(h, ['--import'], cert);
  return exportPublic(h, fingerprint);
}

export function gpgDecrypt(h: GpgHome, armored: string | Buffer): Buffer {
  return gpg(h, ['--decrypt'], armored);
}

// ---- OpenSSL ------------------------------------------------------------------------------------------------------

export interface SmimeCa { dir: string; caCertFile: string; caKeyFile: string; caCert: string }
export interface IssuedCert { certFile: string; keyFile: string; certPem: string; keyPem: string }

export const openssl = (args: string[], cwd: string, input?: Buffer): Buffer =>
  execFileSync('openssl', args, { cwd, input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });

const CA_CNF = `[ ca ]
default_ca = d
[ d ]
database = index.txt
new_certs_dir = newcerts
rand_serial = yes
default_md = sha256
policy = p
unique_subject = no
email_in_dn = yes
[ p ]
commonName = supplied
emailAddress = optional
`;

export function makeSmimeCa(dir = mkdtempSync(join(tmpdir(), 'phigate-smime-'))): SmimeCa {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=phigate test SMIME CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  mkdirSync(join(dir, 'newcerts'));
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'ca.cnf'), CA_CNF);
  return { dir, caCertFile: join(dir, 'ca.crt'), caKeyFile: join(dir, 'ca.key'), caCert: readFileSync(join(dir, 'ca.crt'), 'utf8') };
}

export interface IssueOptions {
  /** Subject, e.g. "/CN=Pat/emailAddress=pat@example.org". */
  subject: string;
  /** Extension lines for the extfile, e.g. ["subjectAltName=email:pat@example.org", "extendedKeyUsage=emailProtection"]. */
  extensions: string[];
  /** Validity as `openssl ca -startdate/-enddate` (YYYYMMDDHHMMSSZ); default: now for 2 days. */
  startDate?: string;
  endDate?: string;
  /** Key arguments for `openssl req` (default -newkey rsa:2048). */
  newkey?: string[];
}

/** A certificate issued by the test CA with `openssl ca`. */
export function issueCert(ca: SmimeCa, name: string, o: IssueOptions): IssuedCert {
  const keyFile = join(ca.dir, `${name}.key`);
  const certFile = join(ca.dir, `${name}.crt`);
  const ext = join(ca.dir, `${name}.ext`);
  writeFileSync(ext, `${['basicConstraints=CA:FALSE', ...o.extensions].join('\n')}\n`);
  openssl(['req', ...(o.newkey ?? ['-newkey', 'rsa:2048']), '-nodes', '-keyout', keyFile, '-out', `${name}.csr`, '-subj', o.subject], ca.dir);
  const validity = o.startDate ? ['-startdate', o.startDate, '-enddate', o.endDate!] : ['-days', '2'];
  openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', `${name}.csr`, '-out', certFile, '-notext',
    '-extfile', ext, ...validity], ca.dir);
  return { certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

/** An S/MIME recipient certificate: emailAddress in the SAN and subject, emailProtection, keyEncipherment. */
export function issueSmimeCert(ca: SmimeCa, name: string, email: string, extra: Partial<IssueOptions> = {}): IssuedCert {
  return issueCert(ca, name, {
    subject: `/CN=${name}/emailAddress=${email}`,
    extensions: [`subjectAltName=email:${email}`, 'extendedKeyUsage=emailProtection', 'keyUsage=keyEncipherment,digitalSignature'],
    ...extra,
  });
}

/** Writes `bytes` to a new file in `dir` and returns its path. */
export function writeTemp(dir: string, name: string, bytes: Buffer | string): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** Kills the gpg-agent of a home and removes it. */
export function closeGpgHome(h: GpgHome): void {
  try {
    execFileSync('gpgconf', ['--kill', 'all'], { env: { ...process.env, GNUPGHOME: h.home }, stdio: 'ignore' });
  } finally {
    rmSync(h.home, { recursive: true, force: true });
  }
}

// ---- a realistic message ------------------------------------------------------------------------------------------

export const SAMPLE_SUBJECT = 'Befund für Patientin Müller';

/** The 256 byte values, the attachment of the sample message. */
export const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/**
 * A multipart/mixed message as an EHR would send it: a folded Received line, an encoded non-ASCII Subject, a text
 * part in UTF-8 and a base64 attachment holding every byte value. `lf` gives the same message with bare LF ends.
 */
export function sampleMessage(opts: { lf?: boolean } = {}): Buffer {
  const lines = [
    'Received: from ehr.clinic.example (ehr.clinic.example [192.0.2.10])',
    '\tby gw.clinic.example (phigate) with ESMTPS id 4XyZ;',
    '\tSun, 29 Nov 2026 18:00:00 +0000',
    'From: "Dr. Ana Lopez" <ana@clinic.example>',
    'To: Pat <pat@example.org>',
    'Cc: Records <records@clinic.example>',
    'Subject: =?UTF-8?Q?Befund_f=C3=BCr_Patientin_M=C3=BCller?=',
    'Date: Sun, 29 Nov 2026 18:00:00 +0000',
    'Message-ID: <abc123.1@clinic.example>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed;',
    ' boundary="mixed-boundary-1"',
    'X-Mailer: EHR 5.2',
    '',
    'This is a multi-part message in MIME format.',
    '--mixed-boundary-1',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Hallo Pat,',
    'anbei der Befund vom 12.11. Grüße aus der Praxis',
    '',
    '--mixed-boundary-1',
    'Content-Type: application/octet-stream; name="all-bytes.bin"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="all-bytes.bin"',
    '',
    ...(ALL_BYTES.toString('base64').match(/.{1,76}/g) ?? []),
    '--mixed-boundary-1--',
    '',
  ];
  return Buffer.from(lines.join(opts.lf ? '\n' : '\r\n'), 'utf8');
}

export interface MimePart { headers: [string, string][]; body: Buffer }

/** Header lines (unfolded, lowercased names) and body of a message or part. */
export function splitPart(raw: Buffer): MimePart {
  const i = raw.indexOf('\r\n\r\n');
  if (i < 0) throw new Error('no blank line after the headers');
  const headers = raw.subarray(0, i).toString('utf8').split(/\r\n(?![ \t])/).map((l): [string, string] => {
    const c = l.indexOf(':');
    return [l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).replace(/\r\n[ \t]+/g, ' ').trim()];
  });
  return { headers, body: raw.subarray(i + 4) };
}

export const header = (p: MimePart, name: string): string | undefined => p.headers.find(([n]) => n === name)?.[1];

/** The parts of a multipart body (RFC 2046 5.1.1): the CRLF before each delimiter belongs to the delimiter. */
export function multipartParts(body: Buffer, boundary: string): Buffer[] {
  const text = body.toString('latin1');
  const delim = `--${boundary}`;
  const found = text.indexOf(`\r\n${delim}\r\n`);
  const start = text.startsWith(`${delim}\r\n`) ? 0 : found < 0 ? -1 : found + 2;
  const end = text.indexOf(`\r\n${delim}--`);
  if (start < 0 || end < start) throw new Error('multipart delimiters not found');
  return text.slice(start + delim.length + 2, end).split(`\r\n${delim}\r\n`).map((p) => Buffer.from(p, 'latin1'));
}
