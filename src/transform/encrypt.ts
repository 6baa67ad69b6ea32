// Owns building one recipient's encrypted copy: OpenPGP (PGP/MIME, also to the organisation's key when one is
// set) or S/MIME (EnvelopedData, signed first with the organisation's certificate when one is set), with the
// neutral visible Subject. Returns the bytes and the facts the audit records (which key, signed or not).
import type { ContentChanges } from '../envelope.js';
import { pgpMimeEncrypt, readPublicKeyInfo } from './pgp.js';
import { smimeEncrypt, readCertInfo } from './smime.js';

/** A recipient's encryption material, looked up once per attempt. */
export interface Material { pgp: string | null; smime: string | null }

/** What one copy of a message is: the rule's edits and, for one recipient, an encryption method. */
export interface CopySpec {
  changes: ContentChanges | undefined;
  via: 'pgp' | 'smime' | null;
  recipient: string | null;
  material: Material | null;
}

/** Where keys and certificates come from (the stores, WKD, the config's organisation key and signer). */
export interface KeyLookup {
  /** an armored public key usable for encryption now, or null */
  pgpKeyFor(address: string): Promise<string | null>;
  /** a PEM certificate valid for email encryption now, or null */
  smimeCertFor(address: string): Promise<string | null>;
  pgpOrgKey(): string | null;
  smimeSigner(): { certPem: string; keyPem: string } | null;
}

export const NO_KEYS: KeyLookup = {
  pgpKeyFor: async () => null,
  smimeCertFor: async () => null,
  pgpOrgKey: () => null,
  smimeSigner: () => null,
};

export async function encryptCopy(bytes: Buffer, via: 'pgp' | 'smime', material: Material, keys: KeyLookup, subject: string): Promise<{ bytes: Buffer; facts: Record<string, unknown> }> {
  const now = new Date();
  if (via === 'pgp') {
    const key = material.pgp;
    if (!key) throw new Error('no OpenPGP key for the recipient');
    const org = keys.pgpOrgKey();
    const out = await pgpMimeEncrypt(bytes, org ? [key, org] : [key], { subject });
    const info = await readPublicKeyInfo(key, now);
    return { bytes: out, facts: { keyFingerprint: info.fingerprint, orgKey: !!org } };
  }
  const cert = material.smime;
  if (!cert) throw new Error('no S/MIME certificate for the recipient');
  const signer = keys.smimeSigner();
  const out = smimeEncrypt(bytes, [cert], { subject, ...(signer ? { sign: signer } : {}) });
  const info = readCertInfo(cert, now)[0];
  return { bytes: out, facts: { certFingerprint: info?.fingerprint ?? null, signed: !!signer } };
}
