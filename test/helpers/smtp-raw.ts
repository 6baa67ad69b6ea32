// A minimal SMTP client on a raw socket for tests that need to control every byte and moment: stop in the
// middle of DATA, count replies, keep a connection open across a signal. Replies are parsed per RFC 5321
// (multi-line "250-" continuations). No TLS, no pipelining: one command, one reply.
import { createConnection, type Socket } from 'node:net';

export interface Reply { code: number; lines: string[]; text: string }

export class RawSmtp {
  private buf = '';
  private current: string[] = [];
  private replies: Reply[] = [];
  private waiters: { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private ended: Error | null = null;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => this.onData(d));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  /** Connects and reads the greeting; rejects when the connection is refused or the greeting is not 220. */
  static async connect(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<RawSmtp> {
    const socket = createConnection({ host, port });
    const c = new RawSmtp(socket);
    const greeting = await c.read(timeoutMs);
    if (greeting.code !== 220) {
      c.destroy();
      throw new Error(`greeting ${greeting.code} ${greeting.text}`);
    }
    return c;
  }

  get closed(): boolean {
    return this.ended !== null;
  }

  private onData(d: string): void {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf('\r\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      this.current.push(line);
      if (line.length < 4 || line[3] === ' ') {
        const lines = this.current;
        this.current = [];
        const reply: Reply = { code: Number(line.slice(0, 3)), lines, text: lines.map((l) => l.slice(4)).join('\n') };
        const w = this.waiters.shift();
        if (w) {
          clearTimeout(w.timer);
          w.resolve(reply);
        } else this.replies.push(reply);
      }
    }
  }

  private fail(e: Error): void {
    if (this.ended) return;
    this.ended = e;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(e);
    }
  }

  /** The next reply from the server. */
  read(timeoutMs = 10_000): Promise<Reply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.findIndex((w) => w.timer === timer);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no SMTP reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ resolve, reject, timer });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async cmd(line: string, timeoutMs?: number): Promise<Reply> {
    this.write(line + '\r\n');
    return this.read(timeoutMs);
  }

  /** EHLO, tolerating nothing but 250. */
  async ehlo(name = 'client.test'): Promise<Reply> {
    const r = await this.cmd(`EHLO ${name}`);
    if (r.code !== 250) throw new Error(`EHLO: ${r.code} ${r.text}`);
    return r;
  }

  /** MAIL, RCPT, DATA up to the 354; throws on any other reply. Leaves the transaction open for the body. */
  async begin(from: string, to: string[], timeoutMs?: number): Promise<void> {
    const m = await this.cmd(`MAIL FROM:<${from}>`, timeoutMs);
    if (m.code !== 250) throw new Error(`MAIL: ${m.code} ${m.text}`);
    for (const r of to) {
      const x = await this.cmd(`RCPT TO:<${r}>`, timeoutMs);
      if (x.code !== 250) throw new Error(`RCPT: ${x.code} ${x.text}`);
    }
    const d = await this.cmd('DATA', timeoutMs);
    if (d.code !== 354) throw new Error(`DATA: ${d.code} ${d.text}`);
  }

  /** Sends the (dot-stuffed) message and the final dot; returns the server's verdict on it. */
  async finish(message: string, timeoutMs?: number): Promise<Reply> {
    this.write(dotStuff(message) + '.\r\n');
    return this.read(timeoutMs);
  }

  /** One whole transaction; returns the reply to the final dot. */
  async send(from: string, to: string[], message: string, timeoutMs?: number): Promise<Reply> {
    await this.begin(from, to, timeoutMs);
    return this.finish(message, timeoutMs);
  }

  async quit(): Promise<void> {
    try { await this.cmd('QUIT', 2000); } catch { /* closing anyway */ }
    this.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** CRLF line ends, leading dots doubled, and a final CRLF. */
export function dotStuff(message: string): string {
  let m = message.replace(/\r?\n/g, '\r\n');
  if (!m.endsWith('\r\n')) m += '\r\n';
  return m.replace(/^\./gm, '..');
}

/** A small RFC 5322 message; `token` lands in the body, `messageId` in the header. */
export function testMessage(o: { from: string; to: string; messageId: string; subject?: string; body: string; extraHeaders?: string[] }): string {
  return [
    `From: ${o.from}`,
    `To: ${o.to}`,
    `Subject: ${o.subject ?? 'test'}`,
    `Message-ID: <${o.messageId}>`,
    ...(o.extraHeaders ?? []),
    '',
    o.body,
    '',
  ].join('\r\n');
}

/** Resolves true when a TCP connection to the port is refused (nothing listening). */
export function connectionRefused(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** Waits for a child process to exit; resolves its code and signal, or null on timeout. */
export function waitExit(child: import('node:child_process').ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), timeoutMs);
    child.once('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal }); });
  });
}
