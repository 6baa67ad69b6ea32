// A real receiving SMTP server on loopback for tests: optional STARTTLS with a given certificate, scripted
// replies per recipient or per attempt, and the messages it accepted with their TLS facts.
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface SunkMessage {
  from: string;
  to: string[];
  bytes: Buffer;
  tlsProtocol: string | null;
  cipher: string | null;
}

export interface SinkOptions {
  tls?: { key: string; cert: string };
  /** Return an error [code, text] to refuse a recipient; called on every RCPT. */
  onRcpt?: (address: string, attempt: number) => [number, string] | null;
  /** Return an error [code, text] to refuse the DATA. */
  onData?: (attempt: number) => [number, string] | null;
}

export interface Sink {
  port: number;
  messages: SunkMessage[];
  /** SMTP connections the sink has accepted */
  connections: number;
  rcptAttempts: number;
  waitFor(n: number, timeoutMs?: number): Promise<SunkMessage[]>;
  close(): Promise<void>;
}

function smtpError(code: number, text: string): Error {
  const e = new Error(text) as Error & { responseCode: number };
  e.responseCode = code;
  return e;
}

export async function startSink(o: SinkOptions = {}): Promise<Sink> {
  const messages: SunkMessage[] = [];
  let rcptAttempts = 0;
  let connections = 0;
  let dataAttempts = 0;
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    secure: false,
    ...(o.tls ? { key: o.tls.key, cert: o.tls.cert } : { disabledCommands: ['STARTTLS'] }),
    authOptional: true,
    disabledCommands: o.tls ? ['AUTH'] : ['STARTTLS', 'AUTH'],
    disableReverseLookup: true,
    logger: false,
    size: 200 * 1024 * 1024,
    onConnect(_s, cb) { connections++; cb(); },
    onRcptTo(address, _s, cb) {
      rcptAttempts++;
      const r = o.onRcpt?.(address.address, rcptAttempts);
      cb(r ? smtpError(r[0], r[1]) : undefined);
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        dataAttempts++;
        const r = o.onData?.(dataAttempts);
        if (r) return cb(smtpError(r[0], r[1]));
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((x) => x.address),
          bytes: Buffer.concat(chunks),
          tlsProtocol: session.tlsOptions ? session.tlsOptions.version ?? null : null,
          cipher: session.tlsOptions ? session.tlsOptions.name : null,
        });
        waiters.splice(0).forEach((w) => w());
        cb();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    messages,
    get rcptAttempts() { return rcptAttempts; },
    get connections() { return connections; },
    async waitFor(n, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      while (messages.length < n) {
        if (Date.now() > end) throw new Error(`sink got ${messages.length} of ${n} messages in ${timeoutMs} ms`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
      }
      return messages;
    },
    close: () => new Promise<void>((r) => { server.close(() => r()); setTimeout(r, 2000).unref(); }),
  };
}
