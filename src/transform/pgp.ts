// Owns PGP/MIME (RFC 3156) encryption with openpgp: the protected inner entity is encrypted as binary data (text
// mode would let gpg rewrite CRLF) to every given key and wrapped in multipart/encrypted under the outer headers
// with a neutral subject. Also reads a public key's facts so the key store can refuse keys that cannot be used.
import { randomBytes } from 'node:crypto';
import { createMessage, encrypt, readKeys, type Key } from 'openpgp';
import { outerHeaderBytes, protectedEntity } from './mime-entity.js';

export interface PublicKeyInfo {
  /** Primary key fingerprint, uppercase hex. */
  fingerprint: string;
  userIds: string[];
  /** Addresses of the user ids, lowercased, without duplicates. */
  emails: string[];
  /** ISO time of the primary key's creation. */
  created: string;
  /** ISO time the primary key expires, or null when it never does (or no valid self-signature says so). */
  expires: string | null;
  /** An encryption key (primary or subkey) is valid at `now`: not revoked, not expired, properly bound. */
  canEncrypt: boolean;
  /** The primary key is revoked at `now`. */
  revoked: boolean;
  /** The primary key has expired at `now`. */
  expired: boolean;
  /** Primary key algorithm, e.g. "rsaEncryptSign 2048" or "eddsaLegacy ed25519Legacy". */
  algorithm: string;
  /** Why the key cannot be used for encryption at `now`, in words for an admin; null when it can. */
  problem: string | null;
}

async function readOneKey(armored: string, what: string): Promise<Key> {
  let keys: Key[];
  try {
    keys = await readKeys({ armoredKeys: armored });
  } catch (e) {
    throw new Error(`${what} is not an armored OpenPGP key: ${(e as Error).message}`, { cause: e });
  }
  if (keys.length !== 1) throw new Error(`${what} holds ${keys.length} keys; give exactly one`);
  return keys[0]!;
}

/**
 * Facts about one armored OpenPGP public key at `now`. Throws when the text is not one key, or is a private key
 * (the gateway stores recipients' public keys only).
 */
export async function readPublicKeyInfo(armored: string, now: Date): Promise<PublicKeyInfo> {
  const key = await readOneKey(armored, 'the key text');
  if (key.isPrivate()) throw new Error('this is a private key; export and give the public key only (gpg --export --armor)');
  const userIds = key.getUserIDs();
  const emails = [...new Set(key.users.map((u) => u.userID?.email.trim().toLowerCase() ?? '').filter((e) => e.includes('@')))];
  const exp = await key.getExpirationTime();
  const expires = exp instanceof Date ? exp.toISOString() : null;
  const expired = exp instanceof Date && exp.getTime() <= now.getTime();
  const revoked = await key.isRevoked(undefined, undefined, now);
  let encryptError: string | null = null;
  try {
    await key.getEncryptionKey(undefined, now);
  } catch (e) {
    encryptError = (e as Error).message;
  }
  const a = key.getAlgorithmInfo();
  const algorithm = [a.algorithm, a.bits, a.curve].filter((x) => x !== undefined).join(' ');
  const problem = revoked ? 'the key is revoked'
    : expired ? `the key expired on ${expires}`
      : encryptError !== null ? `the key has no usable encryption subkey (${encryptError})`
        : null;
  return {
    fingerprint: key.getFingerprint().toUpperCase(),
    userIds,
    emails,
    created: key.getCreationTime().toISOString(),
    expires,
    canEncrypt: encryptError === null,
    revoked,
    expired,
    algorithm,
    problem,
  };
}

/**
 * A PGP/MIME message (RFC 3156) of `original`: its outer headers with a neutral subject, then multipart/encrypted
 * whose second part is the ASCII-armored OpenPGP message of protectedEntity(original), encrypted to every key in
 * `recipientKeysArmored` (recipients and, for example, an organisation key). Private keys given here are used
 * through their public part.
 */
export async function pgpMimeEncrypt(original: Buffer, recipientKeysArmored: string[], opts: { subject?: string } = {}): Promise<Buffer> {
  if (recipientKeysArmored.length === 0) throw new Error('PGP/MIME encryption needs at least one recipient key');
  const keys = await Promise.all(recipientKeysArmored.map(async (a, i) => {
    const k = await readOneKey(a, `recipient key ${i + 1}`);
    return k.isPrivate() ? k.toPublic() : k;
  }));
  const message = await createMessage({ binary: new Uint8Array(protectedEntity(original)) });
  const armored = await encrypt({ message, encryptionKeys: keys, format: 'armored' });
  const boundary = `=_phigate_pgp_${randomBytes(12).toString('hex')}`;
  const mime = [
    'MIME-Version: 1.0',
    `Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";\r\n boundary="${boundary}"`,
    '',
    'This is an OpenPGP/MIME encrypted message (RFC 3156).',
    `--${boundary}`,
    'Content-Type: application/pgp-encrypted',
    'Content-Description: PGP/MIME version identification',
    '',
    'Version: 1',
    '',
    `--${boundary}`,
    'Content-Type: application/octet-stream; name="encrypted.asc"',
    'Content-Description: OpenPGP encrypted message',
    'Content-Disposition: inline; filename="encrypted.asc"',
    '',
    armored.replace(/\r?\n/g, '\r\n').replace(/\r\n$/, ''),
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return Buffer.concat([outerHeaderBytes(original, opts), Buffer.from(mime, 'utf8')]);
}
