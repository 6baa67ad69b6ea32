// Owns classification of what a remote server (or the connection) said into delivered / deferred / bounced,
// with a reason. A pure function over a commented rule table, first match wins.
import type { DeliveryOutcome } from '../envelope.js';

export interface RemoteFailure {
  /** nodemailer error code: ECONNECTION, ETIMEDOUT, ESOCKET, ETLS, EENVELOPE, EMESSAGE, EPROTOCOL ... */
  code?: string;
  /** the system or OpenSSL code nodemailer replaced with its own (a failed TLS handshake arrives as ESOCKET) */
  originalCode?: string;
  responseCode?: number;
  response?: string;
  message: string;
}

interface Rule { test: (f: RemoteFailure) => boolean; outcome: Exclude<DeliveryOutcome, 'delivered'>; reason: string }

// Node/OpenSSL codes of a failed TLS handshake or certificate check (DEPTH_ZERO_SELF_SIGNED_CERT,
// ERR_TLS_CERT_ALTNAME_INVALID, ERR_SSL_WRONG_VERSION_NUMBER ...). nodemailer reports these as ESOCKET.
const TLS_CODE = /^ERR_(SSL|TLS)_|CERT|CRL|^UNABLE_TO_|^INVALID_(CA|PURPOSE)$|^PATH_LENGTH_EXCEEDED$|^HOSTNAME_MISMATCH$/;

/** Whether a failure is the TLS layer's: STARTTLS refused (ETLS) or a handshake / certificate check that failed. */
export function isTlsFailure(f: { code?: string; originalCode?: string }): boolean {
  return f.code === 'ETLS' || TLS_CODE.test(f.originalCode ?? '');
}

const RULES: Rule[] = [
  // the gateway itself is stopping: nothing was recorded, the message stays queued for the next start
  { test: (f) => f.code === 'ESHUTDOWN', outcome: 'deferred', reason: 'shutdown' },
  // TLS requirement could not be met: never retried in clear, deferred (later issues re-route it)
  { test: isTlsFailure, outcome: 'deferred', reason: 'tls-failed' },
  // 5xx from the server: permanent, bounce now (RFC 5321 4.2.1)
  { test: (f) => (f.responseCode ?? 0) >= 500 && (f.responseCode ?? 0) < 600, outcome: 'bounced', reason: 'remote-5xx' },
  // 4xx: temporary, retry on the schedule
  { test: (f) => (f.responseCode ?? 0) >= 400 && (f.responseCode ?? 0) < 500, outcome: 'deferred', reason: 'remote-4xx' },
  // could not connect, timed out, connection dropped
  { test: (f) => ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH'].includes(f.code ?? ''), outcome: 'deferred', reason: 'connection' },
  // anything else is retried rather than lost
  { test: () => true, outcome: 'deferred', reason: 'unknown' },
];

export function classify(f: RemoteFailure): { outcome: Exclude<DeliveryOutcome, 'delivered'>; reason: string } {
  const rule = RULES.find((r) => r.test(f))!;
  return { outcome: rule.outcome, reason: rule.reason };
}

/** One line for logs, audit and DSNs: the remote reply when there is one, else the error. */
export function describeFailure(f: RemoteFailure): string {
  const text = (f.response ?? '').replace(/\s+/g, ' ').trim();
  return text || f.message.replace(/\s+/g, ' ').trim();
}
