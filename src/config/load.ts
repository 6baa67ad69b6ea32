// Owns loading config/phigate.yaml: YAML with positions, schema validation (unknown keys are errors, never
// warnings), defaults, and resolution of paths, durations and sizes into a typed Config.
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { schemaProblems } from './schema-problems.js';
import { configSchema, type Config, type ListenerConfig, type TlsLevel } from './schema.js';
import { parseYamlLocated, locate, type LocatedDoc } from './yaml-locate.js';
import { parseDuration, parseSize } from './units.js';
import { PhigateError, FileProblemsError, type FileProblem } from '../errors.js';
import { parseCidrList } from './cidr.js';

export const DEFAULT_CONFIG_FILE = 'config/phigate.yaml';

export function configPath(explicit?: string): string {
  return resolve(explicit ?? process.env.PHIGATE_CONFIG ?? DEFAULT_CONFIG_FILE);
}

// verbose: errors carry parentSchema, which the messages below read (allowed keys, descriptions)
const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
// compiled on first use: `phigate --help` and commands that read no config skip the cost (~100 ms)
let compiled: ValidateFunction | null = null;
const validator = (): ValidateFunction => (compiled ??= ajv.compile(configSchema));

type Raw = Record<string, any>;

function lowerKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
}

export function loadConfig(explicit?: string): Config {
  const file = configPath(explicit);
  if (!existsSync(file)) throw new PhigateError('CONFIG_NOT_FOUND', `${file}: config file not found (use --config FILE or PHIGATE_CONFIG)`);
  return parseConfig(file, readFileSync(file, 'utf8'));
}

export function parseConfig(file: string, text: string): Config {
  const { located, problems } = parseYamlLocated(file, text);
  if (problems.length) throw new FileProblemsError('CONFIG_SYNTAX', problems);
  const raw = (located.doc.toJS() ?? {}) as Raw;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new FileProblemsError('CONFIG_INVALID', [{ file, line: 1, col: 1, message: 'the config must be a mapping of keys to values' }]);
  }
  const validate = validator();
  if (!validate(raw)) throw new FileProblemsError('CONFIG_INVALID', schemaProblems(located, validate.errors ?? []));
  const semantic = semanticProblems(located, raw);
  if (semantic.length) throw new FileProblemsError('CONFIG_INVALID', semantic);
  return resolveConfig(file, raw);
}

/** Checks the schema cannot express: CIDR syntax, port clashes, at least one listener, timer ranges. */
function semanticProblems(ld: LocatedDoc, raw: Raw): FileProblem[] {
  const out: FileProblem[] = [];
  const at = (path: (string | number)[], message: string) => {
    const p = locate(ld, path);
    out.push({ file: ld.file, line: p.line, col: p.col, message });
  };
  const nets: unknown[] = raw.listen?.relay?.trustedNetworks ?? [];
  nets.forEach((n, i) => {
    try { parseCidrList([String(n)]); } catch { at(['listen', 'relay', 'trustedNetworks', i], `"${String(n)}" is not a network in CIDR form such as 10.0.0.0/8 or ::1/128`); }
  });
  // a wildcard address (0.0.0.0, ::) takes the port on every address, so it clashes with any host
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::' || h === '[::]';
  const used: { name: string; host: string; port: number }[] = [];
  for (const name of ['submission', 'smtps', 'relay']) {
    const l = raw.listen?.[name];
    if (!l || l.port === 0) continue;
    const clash = used.find((u) => u.port === l.port && (u.host === l.host || wildcard(u.host) || wildcard(l.host)));
    if (clash) at(['listen', name, 'port'], `port ${l.port} on ${l.host} is already used by listener "${clash.name}" (${clash.host}:${clash.port})`);
    used.push({ name, host: l.host, port: l.port });
  }
  if (!raw.listen || !['submission', 'smtps', 'relay'].some((n) => raw.listen[n])) at(['listen'], 'at least one listener must be on');
  // these become timers; Node fires a timer over 2^31-1 ms (~24.8 days) after 1 ms, so an idle timeout of
  // 30d would drop every client at once
  if (raw.portal?.masterKey && raw.dataDir) {
    const key = resolve(String(raw.portal.masterKey));
    const data = resolve(String(raw.dataDir));
    if (key === data || key.startsWith(data + '/')) at(['portal', 'masterKey'], `"masterKey" must be outside dataDir (${data}): the key and the data it protects must not be lost together`);
  }
  for (const path of [['limits', 'idleTimeout'], ['shutdownTimeout'], ['outbound', 'connectTimeout'], ['inspect', 'timeBudget']]) {
    const v = path.reduce<any>((o, k) => o?.[k], raw);
    if (v !== undefined && parseDuration(v) > 2 ** 31 - 1) at(path, `"${path[path.length - 1]}" must be at most 24d`);
  }
  return out;
}

function resolveConfig(file: string, raw: Raw): Config {
  const path = (p: string) => resolve(p);
  const limits = raw.limits ?? {};
  const listeners: ListenerConfig[] = [];
  for (const name of ['submission', 'smtps', 'relay'] as const) {
    const l = raw.listen?.[name];
    if (!l) continue;
    listeners.push({
      name,
      host: l.host,
      port: l.port,
      maxConnectionsPerIp: l.maxConnectionsPerIp ?? limits.maxConnectionsPerIp ?? 20,
      trustedNetworks: name === 'relay' ? l.trustedNetworks : [],
    });
  }
  const out = raw.outbound;
  return {
    file,
    hostname: raw.hostname,
    dataDir: path(raw.dataDir),
    listeners,
    tls: { cert: path(raw.tls.cert), key: path(raw.tls.key), minVersion: raw.tls.minVersion ?? 'TLSv1.2' },
    users: path(raw.users),
    auth: {
      maxFailures: raw.auth?.maxFailures ?? 5,
      windowMs: parseDuration(raw.auth?.window ?? '15m'),
      lockoutMs: parseDuration(raw.auth?.lockout ?? '15m'),
    },
    limits: {
      maxMessageSize: parseSize(limits.maxMessageSize ?? '25MB'),
      maxRecipients: limits.maxRecipients ?? 100,
      maxConnections: limits.maxConnections ?? 500,
      maxReceivedHeaders: limits.maxReceivedHeaders ?? 30,
      idleTimeoutMs: parseDuration(limits.idleTimeout ?? '5m'),
    },
    outbound: {
      // domain names are case-insensitive: keys are lowercased so "Example.NET" matches example.net
      routes: { '*': 'mx', ...lowerKeys(out.routes as Record<string, string>) },
      tls: { '*': 'verify', ...lowerKeys(out.tls as Record<string, TlsLevel>) },
      caFile: out.caFile ? path(out.caFile) : null,
      retry: { scheduleMs: (out.retry.schedule as string[]).map(parseDuration), maxAgeMs: parseDuration(out.retry.maxAge) },
      maxConcurrency: out.maxConcurrency ?? 20,
      maxPerHost: out.maxPerHost ?? 5,
      connectTimeoutMs: parseDuration(out.connectTimeout ?? '30s'),
      heloName: out.heloName ?? raw.hostname,
      mtaSts: out.mtaSts ?? true,
    },
    encryption: {
      subject: raw.encryption?.subject ?? 'Encrypted message',
      pgpOrgKey: raw.encryption?.pgpOrgKey ? path(raw.encryption.pgpOrgKey) : null,
      smimeSign: raw.encryption?.smimeSign ? { cert: path(raw.encryption.smimeSign.cert), key: path(raw.encryption.smimeSign.key) } : null,
      wkd: raw.encryption?.wkd ?? false,
    },
    dkim: ((raw.dkim ?? []) as Raw[]).map((d) => ({
      domain: String(d.domain).toLowerCase(),
      selector: d.selector,
      key: path(d.key),
      algorithm: d.algorithm ?? 'rsa-sha256',
    })),
    portal: {
      masterKey: path(raw.portal?.masterKey ?? 'certs/master.key'),
      listen: raw.portal?.listen ?? null,
      baseUrl: String(raw.portal?.baseUrl ?? (raw.portal?.listen ? `https://${raw.hostname}:${raw.portal.listen.port}` : `https://${raw.hostname}`)).replace(/\/$/, ''),
      expiryMs: parseDuration(raw.portal?.expiry ?? '30d'),
      codeLifetimeMs: parseDuration(raw.portal?.codeLifetime ?? '10m'),
      codeAttempts: raw.portal?.codeAttempts ?? 3,
      lockoutMs: parseDuration(raw.portal?.lockout ?? '15m'),
      notificationText: path(raw.portal?.notificationText ?? 'config/portal-notification.txt'),
      notificationHtml: path(raw.portal?.notificationHtml ?? 'config/portal-notification.html'),
      readReceipts: raw.portal?.readReceipts ?? false,
      tls: raw.portal?.tls ? { cert: path(raw.portal.tls.cert), key: path(raw.portal.tls.key) } : null,
    },
    policies: path(raw.policies ?? './policies'),
    logLevel: raw.log?.level ?? 'info',
    shutdownTimeoutMs: parseDuration(raw.shutdownTimeout ?? '30s'),
    inspect: { timeBudgetMs: parseDuration(raw.inspect?.timeBudget ?? '120s'), workers: raw.inspect?.workers ?? null },
  };
}
