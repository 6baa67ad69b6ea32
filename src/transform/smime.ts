// Owns S/MIME encryption with node-forge: CMS EnvelopedData (AES-256-CBC, RSA PKCS#1 v1.5 key transport) of the
// protected inner entity, optionally signed first (multipart/signed with a detached SHA-256 signature), under the
// outer headers with a neutral subject. Also reads certificates' facts (PEM bundle, DER, or a certs-only PKCS#7
// .p7b) so the key store can refuse certificates that cannot be used; that part reads the DER itself (forge
// cannot parse certificates whose key is not RSA, and Node does not expose keyUsage).
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { outerHeaderBytes, protectedEntity } from './mime-entity.js';

export interface SmimeSigner {
  certPem: string;
  keyPem: string;
  /** Intermediate certificates to include in the signature. */
  chainPem?: string[];
}

export interface SmimeOptions {
  subject?: string;
  sign?: SmimeSigner;
  /** The signingTime attribute of a signature (default: the current time). */
  now?: Date;
}

export interface CertInfo {
  /** SHA-256 of the DER, uppercase hex. */
  fingerprint: string;
  /** Subject distinguished name, e.g. "CN=Pat, emailAddress=pat@example.org". */
  subject: string;
  /** rfc822Name entries of subjectAltName and the subject's emailAddress, lowercased, without duplicates. */
  emails: string[];
  notBefore: string;
  notAfter: string;
  expired: boolean;
  notYetValid: boolean;
  /** No extKeyUsage or it allows emailProtection (or any usage), and keyUsage is absent or has keyEncipherment. */
  emailProtection: boolean;
  /** The public key is RSA (forge only does RSA key transport). */
  rsa: boolean;
}

const b64Lines = (der: Buffer) => der.toString('base64').replace(/.{76}(?=.)/g, '$&\r\n');

function certFromPem(pem: string, what: string): forge.pki.Certificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (e) {
    throw new Error(`${what} cannot be used for S/MIME (an RSA certificate in PEM is needed): ${(e as Error).message}`, { cause: e });
  }
}

const boundaryFor = (kind: string) => `=_phigate_${kind}_${randomBytes(12).toString('hex')}`;

/** multipart/signed (RFC 8551 3.5.3) of `entity`; the signed bytes are exactly `entity`, the part's content. */
function signEntity(entity: Buffer, signer: SmimeSigner, now: Date): Buffer {
  const cert = certFromPem(signer.certPem, 'the signing certificate');
  const key = forge.pki.privateKeyFromPem(signer.keyPem);
  const p7 = forge.pkcs7.createSignedData();
  p7.content = forge.util.createBuffer(entity.toString('binary'));
  p7.addCertificate(cert);
  for (const [i, pem] of (signer.chainPem ?? []).entries()) p7.addCertificate(certFromPem(pem, `chain certificate ${i + 1}`));
  p7.addSigner({
    key,
    certificate: cert,
    digestAlgorithm: forge.pki.oids.sha256!,
    authenticatedAttributes: [
      { type: forge.pki.oids.contentType!, value: forge.pki.oids.data! },
      { type: forge.pki.oids.messageDigest! },
      { type: forge.pki.oids.signingTime!, value: now as unknown as string },
    ],
  });
  p7.sign({ detached: true });
  const sig = Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary');
  const boundary = boundaryFor('signed');
  const head = [
    `Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256;\r\n boundary="${boundary}"`,
    '',
    'This is a cryptographically signed message in MIME format.',
    '',
    `--${boundary}`,
    '',
  ].join('\r\n');
  const tail = [
    '',
    `--${boundary}`,
    'Content-Type: application/pkcs7-signature; name="smime.p7s"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="smime.p7s"',
    'Content-Description: S/MIME Cryptographic Signature',
    '',
    b64Lines(sig),
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), entity, Buffer.from(tail, 'latin1')]);
}

/**
 * An S/MIME enveloped message of `original` to every certificate in `recipientCertsPem` (each an RSA certificate
 * in PEM): outer headers with a neutral subject, application/pkcs7-mime; smime-type=enveloped-data in base64.
 * The encrypted content is protectedEntity(original), or with `sign` a multipart/signed of it.
 */
export function smimeEncrypt(original: Buffer, recipientCertsPem: string[], opts: SmimeOptions = {}): Buffer {
  if (recipientCertsPem.length === 0) throw new Error('S/MIME encryption needs at least one recipient certificate');
  const certs = recipientCertsPem.map((pem, i) => certFromPem(pem, `recipient certificate ${i + 1}`));
  const entity = protectedEntity(original);
  const content = opts.sign ? signEntity(entity, opts.sign, opts.now ?? new Date()) : entity;
  const p7 = forge.pkcs7.createEnvelopedData();
  for (const c of certs) p7.addRecipient(c);
  p7.content = forge.util.createBuffer(content.toString('binary'));
  p7.encrypt(undefined, forge.pki.oids['aes256-CBC']);
  const der = Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary');
  const mime = [
    'MIME-Version: 1.0',
    'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="smime.p7m"',
    'Content-Description: S/MIME Encrypted Message',
    '',
    b64Lines(der),
    '',
  ].join('\r\n');
  return Buffer.concat([outerHeaderBytes(original, opts), Buffer.from(mime, 'latin1')]);
}

// ---- reading certificates -------------------------------------------------------------------------------------

interface Tlv { tag: number; start: number; valueStart: number; end: number }

function tlv(buf: Buffer, off: number, limit = buf.length): Tlv {
  if (off + 2 > limit) throw new Error('truncated DER');
  const tag = buf[off]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('DER tag numbers above 30 are not expected here');
  let p = off + 1;
  let len = buf[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  if (p + len > limit) throw new Error('truncated DER');
  return { tag, start: off, valueStart: p, end: p + len };
}

function children(buf: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.valueStart; p < t.end;) {
    const c = tlv(buf, p, t.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

const value = (buf: Buffer, t: Tlv) => buf.subarray(t.valueStart, t.end);

function oidString(bytes: Buffer): string {
  const parts: number[] = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) { parts.push(v); v = 0; }
  }
  const first = parts.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

function derTime(buf: Buffer, t: Tlv): Date {
  const s = value(buf, t).toString('latin1');
  const m = (t.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/ : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/).exec(s);
  if (!m) throw new Error(`unsupported certificate time ${JSON.stringify(s)}`);
  let year = Number(m[1]);
  if (t.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_EMAIL_ADDRESS = '1.2.840.113549.1.9.1';
const OID_KEY_USAGE = '2.5.29.15';
const OID_SAN = '2.5.29.17';
const OID_EKU = '2.5.29.37';
const EKU_EMAIL = '1.3.6.1.5.5.7.3.4';
const EKU_ANY = '2.5.29.37.0';

/** The certificates of a DER blob: one certificate, or the certificates field of a PKCS#7 SignedData. */
function certsFromDer(der: Buffer): Buffer[] {
  const top = tlv(der, 0);
  const kids = children(der, top);
  if (kids[0]?.tag === 0x06 && oidString(value(der, kids[0])) === OID_SIGNED_DATA) {
    const explicit = kids[1];
    if (!explicit || explicit.tag !== 0xa0) throw new Error('PKCS#7 SignedData without content');
    const signedData = children(der, explicit)[0];
    if (!signedData) throw new Error('PKCS#7 SignedData is empty');
    const certSet = children(der, signedData).find((c) => c.tag === 0xa0);
    return certSet ? children(der, certSet).map((c) => der.subarray(c.start, c.end)) : [];
  }
  return [der.subarray(top.start, top.end)];
}

function certBlobs(input: Buffer | string): Buffer[] {
  const text = typeof input === 'string' ? input : input.toString('latin1');
  if (text.includes('-----BEGIN ')) {
    const out: Buffer[] = [];
    for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)) {
      const der = Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64');
      if (m[1] === 'CERTIFICATE' || m[1] === 'X509 CERTIFICATE' || m[1] === 'TRUSTED CERTIFICATE') out.push(...certsFromDer(der));
      else if (m[1] === 'PKCS7' || m[1] === 'CMS') out.push(...certsFromDer(der));
    }
    if (out.length === 0) throw new Error('no certificate found in the PEM text');
    return out;
  }
  if (typeof input === 'string') throw new Error('no PEM certificate found in the text');
  return certsFromDer(input);
}

function certInfo(der: Buffer, now: Date): CertInfo {
  const x = new X509Certificate(der);
  const cert = tlv(der, 0);
  const tbsT = children(der, cert)[0]!;
  const tbs = children(der, tbsT);
  const rest = tbs[0]?.tag === 0xa0 ? tbs.slice(1) : tbs; // skip [0] version
  const [, , , validityT, subjectT] = rest; // serial, signature, issuer, validity, subject
  const [nbT, naT] = children(der, validityT!);
  const notBefore = derTime(der, nbT!);
  const notAfter = derTime(der, naT!);
  const emails = new Set<string>();
  for (const rdn of children(der, subjectT!)) {
    for (const atv of children(der, rdn)) {
      const [oid, val] = children(der, atv);
      if (oid && val && oidString(value(der, oid)) === OID_EMAIL_ADDRESS) emails.add(value(der, val).toString('utf8').trim().toLowerCase());
    }
  }
  let keyUsage: number | null = null;
  let eku: string[] | null = null;
  const extsT = rest.find((t) => t.tag === 0xa3);
  if (extsT) {
    for (const ext of children(der, children(der, extsT)[0]!)) {
      const parts = children(der, ext);
      const id = oidString(value(der, parts[0]!));
      const octets = parts[parts.length - 1]!;
      const inner = tlv(der, octets.valueStart, octets.end);
      if (id === OID_KEY_USAGE) {
        const bits = value(der, inner);
        keyUsage = (bits[1] ?? 0) * 256 + (bits[2] ?? 0); // bit 0 (digitalSignature) is 0x8000
      } else if (id === OID_EKU) {
        eku = children(der, inner).map((o) => oidString(value(der, o)));
      } else if (id === OID_SAN) {
        for (const gn of children(der, inner)) if (gn.tag === 0x81) emails.add(value(der, gn).toString('latin1').trim().toLowerCase());
      }
    }
  }
  const KEY_ENCIPHERMENT = 0x2000;
  const ekuOk = eku === null || eku.includes(EKU_EMAIL) || eku.includes(EKU_ANY);
  const kuOk = keyUsage === null || (keyUsage & KEY_ENCIPHERMENT) !== 0;
  return {
    fingerprint: createHash('sha256').update(der).digest('hex').toUpperCase(),
    subject: x.subject.split('\n').join(', '),
    emails: [...emails].filter((e) => e !== ''),
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    expired: now.getTime() > notAfter.getTime(),
    notYetValid: now.getTime() < notBefore.getTime(),
    emailProtection: ekuOk && kuOk,
    rsa: x.publicKey.asymmetricKeyType === 'rsa',
  };
}

/**
 * Facts about each certificate in `pemOrDer` at `now`: a PEM bundle (CERTIFICATE or PKCS7 blocks), one DER
 * certificate, or a DER certs-only PKCS#7 (.p7b). Throws when nothing there parses as a certificate.
 */
export function readCertInfo(pemOrDer: Buffer | string, now: Date): CertInfo[] {
  return certBlobs(pemOrDer).map((der) => {
    try {
      return certInfo(der, now);
    } catch (e) {
      throw new Error(`a certificate cannot be read: ${(e as Error).message}`, { cause: e });
    }
  });
}

/** Each certificate of a PEM bundle, DER file or .p7b as its own PEM block, in the order readCertInfo lists them. */
export function certPems(pemOrDer: Buffer | string): string[] {
  return certBlobs(pemOrDer).map((der) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`);
}
