// Owns Web Key Directory lookup (draft-koch-openpgp-webkey-service): the recipient's OpenPGP key fetched over
// HTTPS from their own domain, advanced method (openpgpkey.DOMAIN) first, then direct (DOMAIN). A failure of any
// kind is not an error, just no key. Keys found are checked like imported ones (usable for encryption now, and
// naming the address).
import { createHash } from 'node:crypto';
import { readKeys } from 'openpgp';
import { httpsGet, type HttpsGetOptions } from '../https-get.js';
import { readPublicKeyInfo } from './pgp.js';

const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

export function zbase32(data: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ZBASE32[(value << (5 - bits)) & 31];
  return out;
}

/** The two places a key for `address` may be published. */
export function wkdLocations(address: string): { host: string; path: string }[] {
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase();
  const hash = zbase32(createHash('sha1').update(local.toLowerCase()).digest());
  const l = encodeURIComponent(local);
  return [
    { host: `openpgpkey.${domain}`, path: `/.well-known/openpgpkey/${domain}/hu/${hash}?l=${l}` },
    { host: domain, path: `/.well-known/openpgpkey/hu/${hash}?l=${l}` },
  ];
}

export type WkdGet = (host: string, path: string) => Promise<Buffer | null>;

/** The HTTPS getter (system trust store; tests add their CA, port and name mapping). */
export function httpsWkdGetter(opts: Omit<HttpsGetOptions, 'maxBytes'> = {}): WkdGet {
  return async (host, path) => {
    const r = await httpsGet(host, path, { ...opts, maxBytes: 256 * 1024 });
    return r.status === 200 ? r.body : null;
  };
}

/** An armored key for `address` usable for encryption at `now`, or null (not published, unreachable, unusable). */
export async function wkdLookup(address: string, get: WkdGet, now: Date): Promise<string | null> {
  const a = address.toLowerCase();
  for (const { host, path } of wkdLocations(address)) {
    let body: Buffer | null;
    try { body = await get(host, path); } catch { body = null; }
    if (!body?.length) continue;
    try {
      for (const key of await readKeys({ binaryKeys: body })) {
        const armored = key.toPublic().armor();
        const info = await readPublicKeyInfo(armored, now);
        if (info.canEncrypt && !info.revoked && !info.expired && info.emails.includes(a)) return armored;
      }
    } catch { /* not a key: no key */ }
  }
  return null;
}
