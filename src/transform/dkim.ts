// Owns DKIM signing (mailauth): picks the key for the From domain (or its nearest parent), signs the final
// bytes with relaxed/relaxed, and refuses to report success unless a signature really came back.
import { readFileSync } from 'node:fs';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { DkimKeyConfig } from '../config/schema.js';
import type { DkimResult } from '../envelope.js';
import { PhigateError } from '../errors.js';

export interface DkimKey extends Omit<DkimKeyConfig, 'key'> { privateKey: string }

export function loadDkimKeys(cfg: DkimKeyConfig[]): DkimKey[] {
  return cfg.map((k) => {
    try {
      return { domain: k.domain, selector: k.selector, algorithm: k.algorithm, privateKey: readFileSync(k.key, 'utf8') };
    } catch (e) {
      throw new PhigateError('DKIM_KEY', `DKIM key for ${k.domain} (${k.key}) cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
}

export function keyFor(keys: DkimKey[], fromDomain: string | null): DkimKey | undefined {
  if (!fromDomain) return undefined;
  let d = fromDomain.toLowerCase();
  for (;;) {
    const k = keys.find((x) => x.domain === d);
    if (k) return k;
    const dot = d.indexOf('.');
    if (dot < 0 || d.indexOf('.', dot + 1) < 0) return undefined;
    d = d.slice(dot + 1);
  }
}

export async function dkimSignBytes(bytes: Buffer, fromDomain: string | null, keys: DkimKey[]): Promise<{ bytes: Buffer; dkim: DkimResult }> {
  const key = keyFor(keys, fromDomain);
  if (!key) return { bytes, dkim: { signed: false, reason: fromDomain ? `no DKIM key for ${fromDomain}` : 'no From domain' } };
  const res = await dkimSign(bytes, {
    canonicalization: 'relaxed/relaxed',
    signatureData: [{ signingDomain: key.domain, selector: key.selector, privateKey: key.privateKey, algorithm: key.algorithm }],
  } as never) as { signatures: string; errors: unknown[] };
  const sig = (res.signatures ?? '').trim();
  if (!sig || (res.errors && res.errors.length)) {
    return { bytes, dkim: { signed: false, domain: key.domain, selector: key.selector, algorithm: key.algorithm, reason: 'signing failed' } };
  }
  return {
    bytes: Buffer.concat([Buffer.from(sig + '\r\n'), bytes]),
    dkim: { signed: true, domain: key.domain, selector: key.selector, algorithm: key.algorithm },
  };
}
