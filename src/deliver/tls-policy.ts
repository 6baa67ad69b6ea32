// Owns outbound TLS requirements: which level a destination demands, the client options that enforce it, and
// small pure predicates for the decisions around it (zone-mta's tls-retry habit). Never downgrades silently.
import tls from 'node:tls';
import type { TlsLevel } from '../config/schema.js';
import { lookupDomain } from './domain-table.js';

export { TLS_RANK, stronger } from '../envelope.js';

export function tlsLevelFor(domain: string, table: Record<string, TlsLevel>): TlsLevel {
  return lookupDomain(table, domain, 'verify');
}


export interface ClientTlsOptions {
  requireTLS: boolean;
  ignoreTLS: boolean;
  opportunisticTLS: boolean;
  tls: tls.ConnectionOptions;
}

export function clientTlsOptions(level: TlsLevel, host: string, extraCa: string | null): ClientTlsOptions {
  const base: tls.ConnectionOptions = { servername: isIp(host) ? undefined : host, minVersion: 'TLSv1.2' };
  switch (level) {
    case 'none':
      return { requireTLS: false, ignoreTLS: true, opportunisticTLS: false, tls: base };
    case 'may':
      return { requireTLS: false, ignoreTLS: false, opportunisticTLS: true, tls: { ...base, rejectUnauthorized: false } };
    case 'encrypt':
      return { requireTLS: true, ignoreTLS: false, opportunisticTLS: false, tls: { ...base, rejectUnauthorized: false } };
    case 'verify':
      return {
        requireTLS: true, ignoreTLS: false, opportunisticTLS: false,
        tls: { ...base, rejectUnauthorized: true, ca: extraCa ? [...tls.rootCertificates, extraCa] : undefined },
      };
  }
}

function isIp(h: string): boolean {
  return /^[\d.]+$/.test(h) || h.includes(':');
}

/** Whether a session's TLS facts meet a level (checked again after connecting, belt and braces). */
export function meetsLevel(level: TlsLevel, facts: { protocol: string | null; verified: boolean }): boolean {
  if (level === 'none' || level === 'may') return true;
  if (!facts.protocol) return false;
  return level === 'encrypt' || facts.verified;
}

/** A `may` session whose TLS handshake failed may retry in clear text; no stricter level ever does. */
export function mayRetryWithoutTls(level: TlsLevel, errCode: string | undefined): boolean {
  return level === 'may' && errCode === 'ETLS';
}

/** Names the reason a TLS requirement failed, from the client error. */
export function tlsFailureReason(message: string, response: string | undefined): 'tls-unavailable' | 'tls-verify-failed' {
  if (/certificate|self[- ]signed|altnames|Hostname|CERT_|UNABLE_TO_|unable to verify|issuer/i.test(message)) return 'tls-verify-failed';
  if (response) return 'tls-unavailable';
  return /STARTTLS/i.test(message) ? 'tls-unavailable' : 'tls-verify-failed';
}
