// Owns the JSON Schema of config/phigate.yaml and the typed, resolved Config the rest of phigate reads.
import { DURATION_PATTERN, SIZE_PATTERN } from './units.js';

const duration = { type: ['string', 'integer'], pattern: DURATION_PATTERN, description: 'a duration such as 30s, 5m, 4h or 5d' };
const size = { type: ['string', 'integer'], pattern: SIZE_PATTERN, minimum: 1, description: 'a size in bytes or with B, KB, MB, GB' };
const port = { type: 'integer', minimum: 0, maximum: 65535, description: 'a port number (0 picks a free one)' };
const host = { type: 'string', minLength: 1 };
const tlsLevel = { enum: ['none', 'may', 'encrypt', 'verify'] };

const listenerBase = {
  host, port,
  maxConnectionsPerIp: { type: 'integer', minimum: 1 },
};

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['hostname', 'dataDir', 'listen', 'tls', 'users', 'outbound'],
  properties: {
    hostname: { type: 'string', pattern: '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$' },
    dataDir: { type: 'string', minLength: 1 },
    listen: {
      type: 'object',
      additionalProperties: false,
      properties: {
        submission: { type: ['object', 'null'], additionalProperties: false, required: ['host', 'port'], properties: { ...listenerBase } },
        smtps: { type: ['object', 'null'], additionalProperties: false, required: ['host', 'port'], properties: { ...listenerBase } },
        relay: {
          type: ['object', 'null'], additionalProperties: false, required: ['host', 'port', 'trustedNetworks'],
          properties: { ...listenerBase, trustedNetworks: { type: 'array', items: { type: 'string', minLength: 1 } } },
        },
      },
    },
    tls: {
      type: 'object', additionalProperties: false, required: ['cert', 'key'],
      properties: {
        cert: { type: 'string', minLength: 1 },
        key: { type: 'string', minLength: 1 },
        minVersion: { enum: ['TLSv1.2', 'TLSv1.3'] },
      },
    },
    users: { type: 'string', minLength: 1 },
    auth: {
      type: 'object', additionalProperties: false,
      properties: {
        maxFailures: { type: 'integer', minimum: 1 },
        window: duration,
        lockout: duration,
      },
    },
    limits: {
      type: 'object', additionalProperties: false,
      properties: {
        maxMessageSize: size,
        maxRecipients: { type: 'integer', minimum: 1 },
        maxConnectionsPerIp: { type: 'integer', minimum: 1 },
        maxConnections: { type: 'integer', minimum: 1 },
        maxReceivedHeaders: { type: 'integer', minimum: 1 },
        idleTimeout: duration,
      },
    },
    outbound: {
      type: 'object', additionalProperties: false, required: ['routes', 'tls', 'retry'],
      properties: {
        routes: { type: 'object', additionalProperties: { type: 'string', pattern: '^(mx|[^\\s:]+:\\d{1,5}|\\[[0-9a-fA-F:]+\\]:\\d{1,5})$', description: '"mx" or "host:port"' } },
        tls: { type: 'object', additionalProperties: tlsLevel },
        caFile: { type: ['string', 'null'] },
        retry: {
          type: 'object', additionalProperties: false, required: ['schedule', 'maxAge'],
          properties: { schedule: { type: 'array', minItems: 1, items: duration }, maxAge: duration },
        },
        maxConcurrency: { type: 'integer', minimum: 1 },
        maxPerHost: { type: 'integer', minimum: 1 },
        connectTimeout: duration,
        heloName: host,
        mtaSts: { type: 'boolean' },
      },
    },
    encryption: {
      type: 'object', additionalProperties: false,
      properties: {
        subject: { type: 'string', minLength: 1 },
        pgpOrgKey: { type: ['string', 'null'], minLength: 1 },
        smimeSign: {
          type: ['object', 'null'], additionalProperties: false, required: ['cert', 'key'],
          properties: { cert: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
        },
        wkd: { type: 'boolean' },
      },
    },
    portal: {
      type: 'object', additionalProperties: false,
      properties: {
        masterKey: { type: 'string', minLength: 1, description: 'the path of the master key file (outside dataDir)' },
        listen: { type: ['object', 'null'], additionalProperties: false, required: ['host', 'port'], properties: { host, port } },
        baseUrl: { type: 'string', pattern: '^https://[^/\\s]+/?$', description: 'the public https:// address of the portal, such as https://secure.clinic.example' },
        expiry: duration,
        codeLifetime: duration,
        codeAttempts: { type: 'integer', minimum: 1, maximum: 10 },
        lockout: duration,
        notificationText: { type: 'string', minLength: 1 },
        notificationHtml: { type: 'string', minLength: 1 },
        readReceipts: { type: 'boolean' },
        tls: {
          type: 'object', additionalProperties: false, required: ['cert', 'key'],
          properties: { cert: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
        },
      },
    },
    dkim: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['domain', 'selector', 'key'],
        properties: {
          domain: { type: 'string', minLength: 1 },
          selector: { type: 'string', pattern: '^[A-Za-z0-9._-]+$' },
          key: { type: 'string', minLength: 1 },
          algorithm: { enum: ['rsa-sha256', 'ed25519-sha256'] },
        },
      },
    },
    policies: { type: 'string', minLength: 1 },
    log: { type: 'object', additionalProperties: false, properties: { level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'silent'] } } },
    shutdownTimeout: duration,
    inspect: {
      type: 'object', additionalProperties: false,
      properties: {
        timeBudget: duration,
        workers: { type: 'integer', minimum: 1, maximum: 64 },
      },
    },
  },
} as const;

export type TlsLevel = 'none' | 'may' | 'encrypt' | 'verify';

export interface ListenerConfig {
  name: 'submission' | 'smtps' | 'relay';
  host: string;
  port: number;
  maxConnectionsPerIp: number;
  trustedNetworks: string[];
}

export interface DkimKeyConfig {
  domain: string;
  selector: string;
  key: string; // absolute path
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
}

/** The resolved configuration: defaults applied, paths absolute, durations in ms, sizes in bytes. */
export interface Config {
  file: string;
  hostname: string;
  dataDir: string;
  listeners: ListenerConfig[];
  tls: { cert: string; key: string; minVersion: 'TLSv1.2' | 'TLSv1.3' };
  users: string;
  auth: { maxFailures: number; windowMs: number; lockoutMs: number };
  limits: {
    maxMessageSize: number;
    maxRecipients: number;
    maxConnections: number;
    maxReceivedHeaders: number;
    idleTimeoutMs: number;
  };
  outbound: {
    routes: Record<string, string>;
    tls: Record<string, TlsLevel>;
    caFile: string | null;
    retry: { scheduleMs: number[]; maxAgeMs: number };
    maxConcurrency: number;
    maxPerHost: number;
    connectTimeoutMs: number;
    heloName: string;
    /** honour destinations' MTA-STS policies (RFC 8461) */
    mtaSts: boolean;
  };
  /** encryption fallbacks (OpenPGP, S/MIME) */
  encryption: {
    /** the visible Subject of an encrypted message */
    subject: string;
    /** armored public key file: every PGP message is also encrypted to it, so the clinic can read its sent copy */
    pgpOrgKey: string | null;
    /** the organisation's certificate and key (PEM files) to sign S/MIME mail before encrypting */
    smimeSign: { cert: string; key: string } | null;
    /** look recipients' OpenPGP keys up by Web Key Directory */
    wkd: boolean;
  };
  dkim: DkimKeyConfig[];
  /** the secure portal, and the master key that seals everything stored at rest */
  portal: {
    masterKey: string;
    /** null: no portal (the portal method is then not available and such recipients are held) */
    listen: { host: string; port: number } | null;
    baseUrl: string;
    expiryMs: number;
    codeLifetimeMs: number;
    codeAttempts: number;
    lockoutMs: number;
    /** notification templates (text and HTML) with {{sender}}, {{link}}, {{expires}} */
    notificationText: string;
    notificationHtml: string;
    /** tell the sender when the recipient first opens the message */
    readReceipts: boolean;
    /** the portal's own certificate and key (PEM files); null: the gateway's (tls.cert, tls.key) */
    tls: { cert: string; key: string } | null;
  };
  policies: string;
  logLevel: string;
  shutdownTimeoutMs: number;
  /** PHI scanning: wall-clock budget per message (past it: PHI, scan-failed) and worker threads */
  inspect: { timeBudgetMs: number; workers: number | null };
}
