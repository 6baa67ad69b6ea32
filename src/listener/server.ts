// Owns the SMTP listeners (submission, smtps, relay): smtp-server wiring, trusted networks, AUTH with lockout,
// limits, the Received header, and the 250 that is sent only after the spool says the message is durable.
import { createHash } from 'node:crypto';
import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerSession, SMTPServerDataStream, SMTPServerAddress } from 'smtp-server';
import { PhigateSMTPServer, type ExtOptions } from './smtp-server-ext.js';
import { readHeaderFacts, traceHeaders } from './headers.js';
import { verifyPassword, type Users } from './users.js';
import type { Lockout } from './lockout.js';
import { addressInList, parseCidrList } from '../config/cidr.js';
import type { Config, ListenerConfig } from '../config/schema.js';
import type { ClientInfo, Received } from '../envelope.js';
import { REPLIES, replyError, replyText, queuedReply, SmtpReplyError, type ReplyName } from '../smtp-reply.js';
import { PhigateError } from '../errors.js';
import type { Logger } from '../log.js';

export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export interface ListenerEvent {
  event: 'auth-failed' | 'auth-locked' | 'rejected';
  sender?: string | null;
  recipient?: string | null;
  details: Record<string, unknown>;
}

export interface ListenerDeps {
  config: Config;
  log: Logger;
  tls: { key: Buffer; cert: Buffer };
  users: () => Users;
  lockout: Lockout;
  newQueueId: () => string;
  /** Stores the message; resolves only when it is durable. Throws to refuse it with a 4xx. */
  accept: (env: Received, bytes: Buffer) => Promise<void>;
  audit: (e: ListenerEvent) => void;
  now: () => number;
}

export interface RunningListeners {
  addresses: Record<string, { host: string; port: number }>;
  /** SMTP connections open now, over all listeners */
  openSessions(): number;
  close(timeoutMs: number): Promise<void>;
}

const ASCII = /^[\x00-\x7f]*$/;
const ADDRESS = /^[^\s@<>()\[\],;:"]+@[^\s@<>()\[\],;:"]+$/;

function sessionClient(l: ListenerConfig, s: SMTPServerSession): ClientInfo {
  return {
    listener: l.name,
    clientIp: s.remoteAddress,
    clientHostname: s.clientHostname,
    helo: s.hostNameAppearsAs || undefined,
    user: typeof s.user === 'string' ? s.user : undefined,
    tls: s.tlsOptions ? { protocol: s.tlsOptions.version ?? null, cipher: s.tlsOptions.name ?? null } : undefined,
  };
}

function buildListener(l: ListenerConfig, deps: ListenerDeps, perIp: Map<string, number>): PhigateSMTPServer {
  const { config, log } = deps;
  const trusted = parseCidrList(l.trustedNetworks);
  const needsAuth = l.name !== 'relay';
  const reject = (name: ReplyName, s: SMTPServerSession | null, details: Record<string, unknown> = {}, who: { sender?: string; recipient?: string } = {}) => {
    const r = REPLIES[name];
    deps.audit({ event: 'rejected', sender: who.sender ?? null, recipient: who.recipient ?? null, details: { listener: l.name, clientIp: s?.remoteAddress, reply: `${r.code} ${r.enhanced}`, reason: name, ...details } });
    log.info({ listener: l.name, clientIp: s?.remoteAddress, reply: r.code, enhanced: r.enhanced, reason: name }, 'rejected');
    return replyError(name);
  };

  const options: ExtOptions = {
    name: config.hostname,
    banner: 'phigate ESMTP',
    secure: l.name === 'smtps',
    key: deps.tls.key,
    cert: deps.tls.cert,
    minVersion: config.tls.minVersion,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
    size: config.limits.maxMessageSize,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: true,
    disableReverseLookup: true,
    logger: false,
    socketTimeout: config.limits.idleTimeoutMs,
    closeTimeout: Math.min(config.shutdownTimeoutMs, 10_000),
    maxClients: config.limits.maxConnections,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: true,
    allowInsecureAuth: false,
    disabledCommands: needsAuth ? [] : ['AUTH'],
    // No early-talker pause on any listener: relay clients are trusted networks and submission clients must
    // authenticate before they can send anything. test/listener/ehlo-tls pins a greeting well under 100 ms.
    greetingDelayMs: 0,

    onConnect(session, cb) {
      const ip = session.remoteAddress;
      if (l.name === 'relay' && !addressInList(ip, trusted)) return cb(reject('relayDenied', session));
      // counted per listener: each listener has its own maxConnectionsPerIp
      const key = `${l.name} ${ip}`;
      const n = (perIp.get(key) ?? 0) + 1;
      if (n > l.maxConnectionsPerIp) return cb(reject('tooManyConnections', session, { connections: n - 1 }));
      perIp.set(key, n);
      (session as SMTPServerSession & { counted?: boolean }).counted = true;
      cb();
    },

    onClose(session) {
      if (!(session as SMTPServerSession & { counted?: boolean }).counted) return;
      const key = `${l.name} ${session.remoteAddress}`;
      const n = (perIp.get(key) ?? 1) - 1;
      if (n <= 0) perIp.delete(key);
      else perIp.set(key, n);
    },

    onAuth(auth: SMTPServerAuthentication, session, cb: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void) {
      const ip = session.remoteAddress;
      const name = auth.username ?? '';
      if (deps.lockout.isLocked(ip, name)) {
        deps.audit({ event: 'auth-locked', details: { listener: l.name, clientIp: ip, user: name, method: auth.method } });
        return cb(replyError('authLocked'));
      }
      const users = deps.users();
      const rec = users.get(name);
      verifyPassword(auth.password ?? '', rec?.hash).then((ok) => {
        if (ok) {
          deps.lockout.succeed(ip, name);
          return cb(null, { user: name });
        }
        const locked = deps.lockout.fail(ip, name);
        deps.audit({ event: 'auth-failed', details: { listener: l.name, clientIp: ip, user: name, method: auth.method, knownUser: !!rec, lockoutStarted: locked } });
        log.warn({ listener: l.name, clientIp: ip, lockoutStarted: locked }, 'authentication failed');
        cb(new SmtpReplyError(REPLIES.authFailed));
      }, (e) => cb(e as Error));
    },

    onMailFrom(address: SMTPServerAddress, session, cb) {
      if (needsAuth && !session.user) return cb(reject('authRequired', session));
      const a = address.address;
      if (a !== '' && !ADDRESS.test(a)) return cb(reject('badSender', session));
      if (!ASCII.test(a) && !((address.args || {}) as Record<string, unknown>)['SMTPUTF8']) return cb(reject('smtpUtf8Required', session));
      cb();
    },

    onRcptTo(address: SMTPServerAddress, session, cb) {
      const a = address.address;
      const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      if (session.envelope.rcptTo.length >= config.limits.maxRecipients) return cb(reject('tooManyRecipients', session, { max: config.limits.maxRecipients }, { sender }));
      if (!ADDRESS.test(a)) return cb(reject(a.includes('@') ? 'badRecipient' : 'nullRecipientDomain', session, {}, { sender }));
      const utf8 = !!(session.envelope.mailFrom && ((session.envelope.mailFrom.args || {}) as Record<string, unknown>)['SMTPUTF8']);
      if (!ASCII.test(a) && !utf8) return cb(reject('smtpUtf8Required', session, {}, { sender }));
      cb();
    },

    onData(stream: SMTPServerDataStream, session, cb) {
      const chunks: Buffer[] = [];
      let length = 0;
      stream.on('data', (c: Buffer) => {
        length += c.length;
        if (length <= config.limits.maxMessageSize) chunks.push(c);
      });
      stream.on('error', (e) => cb(e));
      stream.on('end', () => {
        const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const recipients = session.envelope.rcptTo.map((r) => r.address);
        if (stream.sizeExceeded) return cb(reject('messageTooBig', session, { size: length, max: config.limits.maxMessageSize }, { sender }));
        // the header block is in the first chunks, up to the first that holds a blank line whole (or 256 KB);
        // the first blank line of those chunks is the first of the message, so no more need copying for it.
        // The body is copied once, behind the trace headers
        let headLen = 0, headChunks = 0;
        while (headChunks < chunks.length && headLen < 256 * 1024) {
          const c = chunks[headChunks++]!;
          headLen += c.length;
          if (c.includes('\r\n\r\n') || c.includes('\n\n')) break;
        }
        const facts = readHeaderFacts(headChunks === 1 ? chunks[0]! : Buffer.concat(chunks.slice(0, headChunks), headLen));
        if (facts.receivedCount >= config.limits.maxReceivedHeaders) return cb(reject('mailLoop', session, { received: facts.receivedCount }, { sender }));
        const client = sessionClient(l, session);
        const queueId = deps.newQueueId();
        const now = new Date(deps.now());
        const trace = traceHeaders(facts, client, config.hostname, queueId, recipients, now);
        const traceBuf = Buffer.from(trace.text, 'latin1');
        const bytes = Buffer.concat([traceBuf, ...chunks], traceBuf.length + length);
        const env: Received = {
          queueId,
          kind: 'message',
          messageId: trace.messageId,
          fromDomain: facts.fromDomain,
          sender,
          recipients,
          client,
          size: bytes.length,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          receivedAt: now.getTime(),
        };
        deps.accept(env, bytes).then(
          () => cb(null, replyText(queuedReply(queueId))),
          (e) => {
            log.error({ queueId, err: (e as Error).message }, 'spool write failed; message refused with 451');
            cb(e instanceof SmtpReplyError ? e : replyError('storeFailed'));
          },
        );
      });
    },
  };
  const server = new PhigateSMTPServer(options);
  server.on('error', (e: Error) => log.warn({ listener: l.name, err: e.message, code: (e as NodeJS.ErrnoException).code }, 'smtp connection error'));
  return server;
}

export async function startListeners(deps: ListenerDeps): Promise<RunningListeners> {
  const perIp = new Map<string, number>();
  const running: { l: ListenerConfig; server: PhigateSMTPServer }[] = [];
  const addresses: RunningListeners['addresses'] = {};
  try {
    for (const l of deps.config.listeners) {
      const server = buildListener(l, deps, perIp);
      await new Promise<void>((resolve, reject) => {
        const onErr = (e: NodeJS.ErrnoException) => reject(new PhigateError('LISTEN_FAILED', `listener ${l.name} cannot listen on ${l.host}:${l.port}: ${e.code ?? e.message}`));
        server.server.once('error', onErr);
        server.listen(l.port, l.host, () => {
          server.server.off('error', onErr);
          resolve();
        });
      });
      const a = server.server.address();
      const port = typeof a === 'object' && a ? a.port : l.port;
      addresses[l.name] = { host: l.host, port };
      running.push({ l, server });
      deps.log.info({ listener: l.name, host: l.host, port }, 'listening');
    }
  } catch (e) {
    await Promise.all(running.map(({ server }) => new Promise<void>((r) => server.close(() => r()))));
    throw e;
  }
  return {
    addresses,
    openSessions: () => { let n = 0; for (const v of perIp.values()) n += v; return n; },
    close: (timeoutMs) =>
      Promise.race([
        Promise.all(running.map(({ server }) => new Promise<void>((r) => server.close(() => r())))).then(() => undefined),
        new Promise<void>((r) => setTimeout(r, timeoutMs).unref()),
      ]),
  };
}
