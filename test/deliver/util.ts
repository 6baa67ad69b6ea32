// Shared helpers for the delivery tests (not a test file: ava only runs *.test.js): a gateway whose
// outbound settings a test chooses, a relay-port submission with swaks, audit polling, loopback DNS and a
// small MIME splitter for DSNs.
import type { ExecutionContext } from 'ava';
import { swaks } from '../helpers/swaks.js';
import { makeGatewayDir, startTestGateway, noDns } from '../helpers/gateway.js';
import type { Gateway } from '../../src/gateway.js';
import type { Resolver } from '../../src/deliver/route.js';
import { queryAudit } from '../../src/audit/query.js';
import type { AuditRecord } from '../../src/audit/record.js';

export type TestResolver = Resolver & { lookup(h: string): Promise<string[]> };

export interface Outbound {
  routes: Record<string, string>;
  tls?: Record<string, string>;
  caFile?: string | null;
  retry?: { schedule: string[]; maxAge: string };
  connectTimeout?: string;
}

/** Starts an in-process gateway with these outbound settings; stopped by t.teardown. */
export async function gatewayWith(t: ExecutionContext, o: Outbound, resolver: TestResolver = noDns): Promise<Gateway> {
  const d = makeGatewayDir({
    outbound: {
      routes: o.routes,
      tls: o.tls ?? { '*': 'verify' },
      caFile: o.caFile ?? null,
      retry: o.retry ?? { schedule: ['10m'], maxAge: '1h' },
      connectTimeout: o.connectTimeout ?? '5s',
    },
  });
  const gw = await startTestGateway(d, resolver, 200);
  t.teardown(() => gw.stop());
  return gw;
}

/** Submits one message on the relay port with swaks; returns the queue id from the 250 reply. */
export async function relay(t: ExecutionContext, gw: Gateway, o: { from: string; to: string[]; subject?: string; body?: string }): Promise<string> {
  const port = gw.listeners.addresses['relay']!.port;
  const r = await swaks(['--server', '127.0.0.1', '--port', String(port), '--from', o.from, '--to', o.to.join(','),
    '--h-From', `<${o.from}>`, '--header', `Subject: ${o.subject ?? 'Test'}`, '--body', o.body ?? 'test body']);
  t.is(r.code, 0, r.out);
  const m = /250 2\.0\.0 Ok: queued as ([0-9A-Z]{20})/.exec(r.out);
  if (!m) throw new Error(`no queue id in swaks output:\n${r.out}`);
  return m[1]!;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The audit events of a queue id, polled until `until` holds or the time is up (then returned as they are). */
export async function auditUntil(gw: Gateway, queueId: string, until: (evs: AuditRecord[]) => boolean, timeoutMs = 10_000): Promise<AuditRecord[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const evs = queryAudit(gw.store, { queueId });
    if (until(evs) || Date.now() > end) return evs;
    await sleep(50);
  }
}

export const names = (evs: AuditRecord[]) => evs.map((e) => e.event);

/** Every host name resolves to 127.0.0.1 (or what `map` says); no MX records unless given. */
export function loopbackResolver(map: Record<string, string[]> = {}, mx: Record<string, { exchange: string; priority: number }[]> = {}): TestResolver {
  const miss = (n: string) => Object.assign(new Error(`no record: ${n}`), { code: 'ENODATA' });
  return {
    resolveMx: async (n) => { if (mx[n]) return mx[n]!; throw miss(n); },
    resolve4: async (n) => map[n] ?? ['127.0.0.1'],
    resolve6: async (n) => { throw miss(n); },
    lookup: async (h) => map[h] ?? ['127.0.0.1'],
  };
}

export interface MimePart { headers: string; body: string; contentType: string }

/** Top-level parts of a multipart message (enough for the DSNs built here; no nesting). */
export function splitMultipart(raw: string): { contentType: string; parts: MimePart[] } {
  const headerEnd = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, headerEnd).replace(/\r\n[ \t]+/g, ' ');
  const ct = /^Content-Type:\s*(.+)$/im.exec(head)?.[1] ?? '';
  const boundary = /boundary="?([^";]+)"?/i.exec(ct)?.[1];
  if (!boundary) return { contentType: ct, parts: [] };
  const body = raw.slice(headerEnd + 4);
  const chunks = body.split(`--${boundary}`);
  const parts: MimePart[] = [];
  for (const c of chunks.slice(1)) {
    if (c.startsWith('--')) break;
    const p = c.replace(/^\r\n/, '');
    const i = p.indexOf('\r\n\r\n');
    const headers = i < 0 ? p : p.slice(0, i);
    // the CRLF before a boundary belongs to the delimiter, not to the part (RFC 2046 5.1.1)
    parts.push({ headers, body: i < 0 ? '' : p.slice(i + 4).replace(/\r\n$/, ''), contentType: (/^Content-Type:\s*([^;\r\n]+)/im.exec(headers)?.[1] ?? 'text/plain').trim().toLowerCase() });
  }
  return { contentType: ct, parts };
}

export interface BrokenTlsServer {
  port: number;
  starttlsSeen: number;
  /** connections accepted, and every command verb in the order received */
  connections: number;
  verbs: string[];
  messages: { to: string[]; data: string }[];
  close(): Promise<void>;
}

/**
 * A hand-written SMTP server that advertises STARTTLS, answers it with 220 and then sends clear-text junk
 * instead of a TLS handshake (a broken TLS stack, or a middlebox). Without STARTTLS it takes mail normally.
 */
export async function startBrokenTlsServer(): Promise<BrokenTlsServer> {
  const { createServer } = await import('node:net');
  const state: BrokenTlsServer = { port: 0, starttlsSeen: 0, connections: 0, verbs: [], messages: [], close: async () => undefined };
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    state.connections++;
    sock.on('close', () => sockets.delete(sock));
    let buf = '';
    let inData = false;
    let rcpts: string[] = [];
    const say = (s: string) => { if (!sock.destroyed) sock.write(s + '\r\n'); };
    sock.on('error', () => undefined);
    say('220 broken.test ESMTP');
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          state.messages.push({ to: rcpts, data: buf.slice(0, end) });
          buf = buf.slice(end + 5);
          inData = false;
          rcpts = [];
          say('250 2.0.0 Ok: queued');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        state.verbs.push(verb);
        if (verb === 'EHLO') say('250-broken.test\r\n250-STARTTLS\r\n250 8BITMIME');
        else if (verb === 'HELO') say('250 broken.test');
        else if (verb === 'STAR') {
          state.starttlsSeen++;
          say('220 2.0.0 Ready to start TLS');
          // answer the ClientHello with something that is not TLS
          sock.removeAllListeners('data');
          sock.once('data', () => sock.end('this is not a TLS handshake\r\n'));
          return;
        } else if (verb === 'MAIL' || verb === 'RSET' || verb === 'NOOP') say('250 2.0.0 Ok');
        else if (verb === 'RCPT') { rcpts.push(/<([^>]*)>/.exec(line)?.[1] ?? ''); say('250 2.1.5 Ok'); }
        else if (verb === 'DATA') { inData = true; say('354 End data with <CR><LF>.<CR><LF>'); }
        else if (verb === 'QUIT') { say('221 2.0.0 Bye'); sock.end(); return; }
        else say('502 5.5.2 Error: command not recognized');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  state.port = typeof a === 'object' && a ? a.port : 0;
  state.close = () => new Promise<void>((r) => { server.close(() => r()); for (const s of sockets) s.destroy(); });
  return state;
}
