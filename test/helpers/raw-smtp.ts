// A raw SMTP client over node:net / node:tls for tests that must send what real clients never do (garbage,
// commands out of order) and read every reply line exactly as the server wrote it.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket, type ConnectionOptions } from 'node:tls';

export interface Reply {
  code: number;
  /** Enhanced status code of the last line, or null. */
  enhanced: string | null;
  /** Text of each line after the code (and after the enhanced code when present). */
  lines: string[];
  /** The reply as received, lines joined with \n. */
  raw: string;
}

export interface RawClient {
  socket: Socket | TLSSocket;
  /** The next complete reply (waits for it). Rejects when the connection closes first. */
  read(timeoutMs?: number): Promise<Reply>;
  /** Writes a line (CRLF added) and reads one reply. */
  cmd(line: string, timeoutMs?: number): Promise<Reply>;
  /** Writes bytes as given. */
  write(data: string | Buffer): void;
  /** Upgrades the connection to TLS after a 220 to STARTTLS. */
  startTls(opts?: ConnectionOptions): Promise<TLSSocket>;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
  close(): void;
}

function parseReply(lines: string[]): Reply {
  const last = lines[lines.length - 1]!;
  const code = Number(last.slice(0, 3));
  const texts = lines.map((l) => l.slice(4));
  const m = /^([245]\.\d{1,3}\.\d{1,3}) /.exec(texts[texts.length - 1]!);
  return { code, enhanced: m ? m[1]! : null, lines: texts.map((t) => (m && t.startsWith(m[1]! + ' ') ? t.slice(m[1]!.length + 1) : t)), raw: lines.join('\n') };
}

function attach(socket: Socket | TLSSocket, state: State): void {
  socket.on('data', (d: Buffer) => {
    state.buf += d.toString('latin1');
    let i: number;
    while ((i = state.buf.indexOf('\r\n')) >= 0) {
      const line = state.buf.slice(0, i);
      state.buf = state.buf.slice(i + 2);
      state.pending.push(line);
      if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
        state.replies.push(parseReply(state.pending.splice(0)));
        state.wake();
      }
    }
  });
}

interface State { buf: string; pending: string[]; replies: Reply[]; ended: boolean; wake: () => void; waiters: (() => void)[] }

export async function rawConnect(port: number, opts: { host?: string; tls?: ConnectionOptions | boolean; timeoutMs?: number } = {}): Promise<RawClient> {
  const host = opts.host ?? '127.0.0.1';
  const state: State = {
    buf: '', pending: [], replies: [], ended: false, waiters: [],
    wake: () => state.waiters.splice(0).forEach((w) => w()),
  };
  let socket: Socket | TLSSocket = await new Promise<Socket | TLSSocket>((resolve, reject) => {
    const s = opts.tls
      ? tlsConnect({ host, port, rejectUnauthorized: false, ...(typeof opts.tls === 'object' ? opts.tls : {}) }, () => resolve(s))
      : netConnect({ host, port }, () => resolve(s));
    s.once('error', reject);
  });
  socket.on('error', () => undefined);
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const onClose = () => { state.ended = true; state.wake(); resolveClosed(); };
  socket.on('close', onClose);
  attach(socket, state);

  const read = async (timeoutMs = opts.timeoutMs ?? 5000): Promise<Reply> => {
    const end = Date.now() + timeoutMs;
    while (!state.replies.length) {
      if (state.ended) throw new Error(`connection closed before a reply (partial: ${JSON.stringify(state.pending.join('\n') + state.buf)})`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no reply in ${timeoutMs} ms (partial: ${JSON.stringify(state.pending.join('\n') + state.buf)})`);
      await new Promise<void>((r) => { state.waiters.push(r); setTimeout(r, left).unref(); });
    }
    return state.replies.shift()!;
  };
  const client: RawClient = {
    get socket() { return socket; },
    read,
    write: (data) => { socket.write(data); },
    cmd: async (line, timeoutMs) => { socket.write(line + '\r\n'); return read(timeoutMs); },
    startTls: (tlsOpts = {}) => new Promise<TLSSocket>((resolve, reject) => {
      const plain = socket;
      plain.removeAllListeners('data');
      plain.removeListener('close', onClose);
      const t = tlsConnect({ socket: plain, servername: 'localhost', rejectUnauthorized: false, ...tlsOpts }, () => resolve(t));
      t.once('error', reject);
      t.on('error', () => undefined);
      t.on('close', onClose);
      attach(t, state);
      socket = t;
    }),
    closed,
    close: () => { socket.destroy(); },
  };
  return client;
}

/** Connects, reads the greeting and sends EHLO; returns the client and the EHLO reply. */
export async function ehloClient(port: number, opts: { tls?: ConnectionOptions | boolean } = {}): Promise<{ c: RawClient; greeting: Reply; ehlo: Reply }> {
  const c = await rawConnect(port, opts);
  const greeting = await c.read();
  const ehlo = await c.cmd('EHLO client.test');
  return { c, greeting, ehlo };
}

/** EHLO keywords (first word of each line after the first, upper case). */
export function keywords(ehlo: Reply): string[] {
  return ehlo.lines.slice(1).map((l) => l.split(' ')[0]!.toUpperCase());
}

/** Sends one message over a plain relay session and returns the queue id from the 250 reply. */
export async function relaySend(port: number, from: string, to: string[], message: string): Promise<string> {
  const c = await rawConnect(port);
  try {
    await c.read();
    await c.cmd('EHLO ehr.test');
    await c.cmd(`MAIL FROM:<${from}>`);
    for (const r of to) await c.cmd(`RCPT TO:<${r}>`);
    await c.cmd('DATA');
    const r = await c.cmd(`${message}\r\n.`);
    const m = /Ok: queued as ([0-9A-Z]{20})/.exec(r.lines[0] ?? '');
    if (!m) throw new Error(`not queued: ${r.raw}`);
    return m[1]!;
  } finally {
    c.close();
  }
}
