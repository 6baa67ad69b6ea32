// Owns our extensions of smtp-server, made by subclassing rather than patching node_modules:
// 1. the greeting delay: smtp-server waits a hard-coded 100 ms before every 220 (an early-talker check for the
//    open internet). Listeners with `greetingDelayMs: 0` (trusted relay, authenticated submission) greet at once.
// 2. enhanced status codes: smtp-server derives the RFC 3463 code from the basic one (a 550 policy refusal would
//    read 5.1.1). A reply text that starts with its own enhanced code ("5.7.1 ...") keeps that code.
// 3. no AUTH keyword in a cleartext EHLO where passwords are accepted only over TLS.
// 4. the data-mode parser step that finds dot-started lines with indexOf (./data-feed.ts).
// All override methods of smtp-server 3.21.x's SMTPConnection; test/listener pins the behaviour.
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { splitEnhanced, rewriteBuiltin, REPLIES } from '../smtp-reply.js';
import { feedDataStream, type DataParser } from './data-feed.js';

export interface ExtOptions extends SMTPServerOptions {
  greetingDelayMs?: number;
}

type AnyConn = SMTPConnection & Record<string, any>;

class PhigateConnection extends (SMTPConnection as unknown as new (...a: any[]) => AnyConn) {
  private forcedEnhanced: string | null = null;

  override init(): void {
    const delay = (this._server.options as ExtOptions).greetingDelayMs ?? 100;
    if (delay === 100) return super.init();
    this._setListeners(() => {
      if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      if (delay <= 0) return this.connectionReady();
      setTimeout(() => this.connectionReady(), delay).unref();
    });
  }

  // each parser (one per connection, and a new one after STARTTLS) gets the faster data-mode step
  override _createParser(): ReturnType<SMTPConnection['_createParser']> {
    const parser = super._createParser();
    (parser as unknown as DataParser)._feedDataStream = feedDataStream;
    return parser;
  }

  private hideAuthKeyword = false;

  // RFC 4954 section 4 / RFC 3207: a server that takes passwords only over TLS does not offer AUTH before
  // STARTTLS. smtp-server lists AUTH in every EHLO; drop it from the cleartext one (AUTH sent anyway still
  // gets 530 5.7.0 "Must issue a STARTTLS command first").
  override handler_EHLO(command: Buffer, callback: () => void): void {
    const opts = this._server.options as SMTPServerOptions;
    this.hideAuthKeyword = !this.secure && !opts.allowInsecureAuth && this._isSupported('STARTTLS') && !opts.hideSTARTTLS;
    try { return super.handler_EHLO(command, callback); } finally { this.hideAuthKeyword = false; }
  }

  override send(code: number, data: any, context?: any): void {
    if (this.hideAuthKeyword && code === 250 && Array.isArray(data)) {
      data = data.filter((line: unknown, i: number) => i === 0 || !/^AUTH /i.test(String(line)));
    }
    if (typeof data === 'string') {
      const split = splitEnhanced(data);
      if (split) {
        this.forcedEnhanced = split.enhanced;
        try { return super.send(code, split.rest, context); } finally { this.forcedEnhanced = null; }
      }
      const ours = rewriteBuiltin(code, data);
      if (ours) return this.send(ours.code, `${ours.enhanced} ${ours.text}`, context);
      if (code === 538) {
        // smtp-server's non-standard 538 for AUTH before STARTTLS; RFC 3207 says 530 5.7.0
        return this.send(REPLIES.startTlsFirst.code, `${REPLIES.startTlsFirst.enhanced} ${REPLIES.startTlsFirst.text}`, context);
      }
    }
    return super.send(code, data, context);
  }

  override _getEnhancedStatusCode(code: number, context?: any): string {
    // Our own code wins even where smtp-server would send none: a refusal at connect (onConnect error, sent
    // with context false) must still read "554 5.7.1" / "421 4.7.0".
    if (this.forcedEnhanced && this._useEnhancedStatusCodes()) return this.forcedEnhanced;
    return super._getEnhancedStatusCode(code, context);
  }
}

export class PhigateSMTPServer extends SMTPServer {
  constructor(options: ExtOptions) {
    super(options);
  }

  override connect(socket: unknown, socketOptions: unknown): void {
    const self = this as unknown as AnyConn;
    const connection = new PhigateConnection(this, socket, socketOptions);
    self.connections.add(connection);
    connection.on('error', (err: Error) => self._onError(err));
    connection.on('connect', (data: unknown) => self._onClientConnect(data));
    connection.init();
  }
}
