// Owns the recipients' encryption material in the data store: OpenPGP public keys and S/MIME certificates that
// admins import (checked when imported and again when used: expired, revoked and encryption-incapable ones are
// refused), found by the recipient's email address. Shared by the gateway and the CLI through LMDB.
import type { Store } from '../store.js';
import { PhigateError } from '../errors.js';
import { readPublicKeyInfo, type PublicKeyInfo } from './pgp.js';
import { readCertInfo, certPems, type CertInfo } from './smime.js';

const PGP = 'pgp:';
const SMIME = 'smime:';

interface StoredKey { armored: string; info: PublicKeyInfo; importedAt: string }
interface StoredCert { pem: string; info: CertInfo; importedAt: string }

function range<T>(store: Store, prefix: string): T[] {
  const out: T[] = [];
  for (const { value } of store.meta.getRange({ start: prefix, end: `${prefix}\uffff` })) out.push(value as T);
  return out;
}

export async function importPgpKey(store: Store, armored: string, now = new Date()): Promise<PublicKeyInfo> {
  if (/-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(armored)) throw new PhigateError('KEY_INVALID', 'this is a private key; import the recipient\'s public key (gpg --export --armor ADDRESS)');
  let info: PublicKeyInfo;
  try {
    info = await readPublicKeyInfo(armored, now);
  } catch (e) {
    throw new PhigateError('KEY_INVALID', `not an OpenPGP public key: ${(e as Error).message}`);
  }
  if (info.revoked) throw new PhigateError('KEY_INVALID', `key ${info.fingerprint} is revoked`);
  if (info.expired) throw new PhigateError('KEY_INVALID', `key ${info.fingerprint} expired${info.expires ? ` on ${info.expires}` : ''}`);
  if (!info.canEncrypt) throw new PhigateError('KEY_INVALID', `key ${info.fingerprint} has no usable encryption subkey (a signing-only key cannot receive mail)`);
  if (!info.emails.length) throw new PhigateError('KEY_INVALID', `key ${info.fingerprint} names no email address in its user ids`);
  await store.meta.put(PGP + info.fingerprint, { armored, info, importedAt: now.toISOString() } satisfies StoredKey);
  return info;
}

export function listPgpKeys(store: Store): PublicKeyInfo[] {
  return range<StoredKey>(store, PGP).map((k) => k.info);
}

export async function removePgpKey(store: Store, fingerprint: string): Promise<boolean> {
  const fp = fingerprint.replace(/\s+/g, '').toUpperCase();
  if (store.meta.get(PGP + fp) === undefined) return false;
  await store.meta.remove(PGP + fp);
  return true;
}

/** The newest stored key for an address that can encrypt now, armored; null when there is none. */
export async function pgpKeyFor(store: Store, address: string, now = new Date()): Promise<string | null> {
  const a = address.toLowerCase();
  const candidates = range<StoredKey>(store, PGP).filter((k) => k.info.emails.includes(a)).sort((x, y) => y.info.created.localeCompare(x.info.created));
  for (const k of candidates) {
    // checked again at use: a key that expired since its import is not used
    const info = await readPublicKeyInfo(k.armored, now).catch(() => null);
    if (info && info.canEncrypt && !info.revoked && !info.expired) return k.armored;
  }
  return null;
}

/** Imports every certificate of a PEM bundle, DER file or .p7b; refuses the whole file when any is unusable. */
export async function importCerts(store: Store, data: Buffer, now = new Date()): Promise<CertInfo[]> {
  let infos: (CertInfo & { pem: string })[];
  try {
    const pems = certPems(data);
    infos = readCertInfo(data, now).map((info, i) => ({ ...info, pem: pems[i]! }));
  } catch (e) {
    throw new PhigateError('CERT_INVALID', `not a certificate (PEM, DER or PKCS#7): ${(e as Error).message}`);
  }
  if (!infos.length) throw new PhigateError('CERT_INVALID', 'no certificate found in the file');
  for (const c of infos) {
    const who = `certificate ${c.subject} (${c.fingerprint.slice(0, 16)}...)`;
    if (c.expired) throw new PhigateError('CERT_INVALID', `${who} expired on ${c.notAfter}`);
    if (c.notYetValid) throw new PhigateError('CERT_INVALID', `${who} is not valid before ${c.notBefore}`);
    if (!c.emailProtection) throw new PhigateError('CERT_INVALID', `${who} is not for email protection (its key usage or extended key usage does not allow encrypting mail)`);
    if (!c.rsa) throw new PhigateError('CERT_INVALID', `${who} does not have an RSA key; S/MIME encryption here needs RSA`);
    if (!c.emails.length) throw new PhigateError('CERT_INVALID', `${who} names no email address`);
  }
  for (const c of infos) {
    const { pem, ...info } = c;
    await store.meta.put(SMIME + c.fingerprint, { pem, info, importedAt: now.toISOString() } satisfies StoredCert);
  }
  return infos.map(({ pem: _p, ...info }) => info);
}

export function listCerts(store: Store): CertInfo[] {
  return range<StoredCert>(store, SMIME).map((c) => c.info);
}

export async function removeCert(store: Store, fingerprint: string): Promise<boolean> {
  const fp = fingerprint.replace(/[\s:]+/g, '').toUpperCase();
  if (store.meta.get(SMIME + fp) === undefined) return false;
  await store.meta.remove(SMIME + fp);
  return true;
}

/** The certificate for an address that is valid now, PEM; null when there is none. */
export function smimeCertFor(store: Store, address: string, now = new Date()): string | null {
  const a = address.toLowerCase();
  const t = now.getTime();
  const ok = range<StoredCert>(store, SMIME).filter((c) => c.info.emails.includes(a) && Date.parse(c.info.notBefore) <= t && t <= Date.parse(c.info.notAfter));
  ok.sort((x, y) => y.info.notAfter.localeCompare(x.info.notAfter));
  return ok[0]?.pem ?? null;
}

interface WkdEntry { armored: string | null; until: number }

/**
 * A Web Key Directory lookup through a cache in the store: a key found is kept for a day (or until it expires),
 * "no key" for an hour, so a campaign to one domain does not fetch per message.
 */
export async function wkdKeyFor(store: Store, address: string, lookup: (address: string) => Promise<string | null>, now = new Date()): Promise<string | null> {
  const k = `wkd:${address.toLowerCase()}`;
  const hit = store.meta.get(k) as WkdEntry | undefined;
  if (hit && hit.until > now.getTime()) return hit.armored;
  const armored = await lookup(address).catch(() => null);
  let until = now.getTime() + (armored ? 24 * 3600_000 : 3600_000);
  if (armored) {
    const info = await readPublicKeyInfo(armored, now).catch(() => null);
    if (info?.expires) until = Math.min(until, Date.parse(info.expires));
  }
  await store.meta.put(k, { armored, until } satisfies WkdEntry);
  return armored;
}
