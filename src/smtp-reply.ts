// Owns every SMTP reply the gateway sends: basic code, RFC 3463 enhanced code and the human sentence.
// Outlook and EHR systems show the sentence to the user, so each one says what happened and what to do.

export interface SmtpReply {
  code: number;
  enhanced: string;
  text: string;
}

const r = (code: number, enhanced: string, text: string): SmtpReply => ({ code, enhanced, text });

export const REPLIES = {
  relayDenied: r(554, '5.7.1', 'Relay access denied: your address is not in this gateway\'s trusted networks'),
  tooManyConnections: r(421, '4.7.0', 'Too many connections from your address, try again later'),
  authRequired: r(530, '5.7.0', 'Authentication required: log in before sending'),
  startTlsFirst: r(530, '5.7.0', 'Must issue a STARTTLS command first: this server accepts passwords only over TLS'),
  authFailed: r(535, '5.7.8', 'Authentication failed: wrong user name or password'),
  authLocked: r(454, '4.7.0', 'Too many failed logins from your address or for this user; try again later'),
  tooManyRecipients: r(452, '4.5.3', 'Too many recipients for one message; send the rest in another message'),
  messageTooBig: r(552, '5.3.4', 'Message too big for this gateway'),
  mailLoop: r(554, '5.4.6', 'Mail loop detected: the message has passed through too many servers'),
  badSender: r(553, '5.1.7', 'The sender address is not valid'),
  badRecipient: r(553, '5.1.3', 'The recipient address is not valid'),
  nullRecipientDomain: r(553, '5.1.3', 'The recipient address needs a domain'),
  storeFailed: r(451, '4.3.0', 'Temporary failure storing the message; nothing was accepted, please retry'),
  shuttingDown: r(421, '4.3.2', 'The gateway is shutting down; try again shortly'),
  timeout: r(421, '4.4.2', 'Idle timeout, closing the connection'),
  smtpUtf8Required: r(553, '5.6.7', 'This address needs SMTPUTF8; declare SMTPUTF8 on MAIL FROM'),
} as const;

export type ReplyName = keyof typeof REPLIES;

export function queuedReply(queueId: string): SmtpReply {
  return r(250, '2.0.0', `Ok: queued as ${queueId}`);
}

/** Formats a reply the way smtp-server's message text carries it: the enhanced code first. */
export function replyText(reply: SmtpReply): string {
  return `${reply.enhanced} ${reply.text}`;
}

/** An Error that smtp-server turns into this reply (responseCode plus enhanced code in the text). */
export class SmtpReplyError extends Error {
  readonly responseCode: number;
  readonly reply: SmtpReply;
  constructor(reply: SmtpReply) {
    super(replyText(reply));
    this.responseCode = reply.code;
    this.reply = reply;
  }
}

export function replyError(name: ReplyName): SmtpReplyError {
  return new SmtpReplyError(REPLIES[name]);
}

/** Splits "5.7.1 text" into its enhanced code and text; undefined when the text has no code. */
export function splitEnhanced(text: string): { enhanced: string; rest: string } | undefined {
  const m = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$/s.exec(text);
  return m ? { enhanced: m[1]!, rest: m[2]! } : undefined;
}

/**
 * smtp-server answers some protocol errors itself ("Error: need MAIL command"). They are rewritten here so
 * every reply reads like ours: the right enhanced code and a sentence that says what to do.
 */
const BUILTIN: [RegExp, SmtpReply][] = [
  [/^Error: command not recognized/, r(500, '5.5.2', 'Command not recognized')],
  [/^Error: too many unrecognized commands/, r(421, '4.7.0', 'Too many unrecognized commands; closing the connection')],
  [/^Error: too many unauthenticated commands/, r(421, '4.7.0', 'Too many commands without logging in; closing the connection')],
  [/^Error: send (HELO\/EHLO|LHLO) first/, r(503, '5.5.1', 'Send EHLO (or HELO) first')],
  [/^Error: need MAIL command/, r(503, '5.5.1', 'Send MAIL FROM before RCPT TO')],
  [/^Error: need RCPT command/, r(503, '5.5.1', 'Send RCPT TO before DATA')],
  [/^Error: nested MAIL command/, r(503, '5.5.1', 'A message is already in progress; send RSET to start over')],
  [/^Error: Bad sender address syntax/, r(501, '5.1.7', 'The sender address is not valid')],
  [/^Error: Bad recipient address syntax/, r(501, '5.1.3', 'The recipient address is not valid')],
  [/^Error: No identity changes permitted/, r(503, '5.5.1', 'Already logged in')],
  [/^Error: Unrecognized authentication type/, r(504, '5.5.4', 'Use AUTH LOGIN or AUTH PLAIN')],
  [/^Error: TLS already active/, r(503, '5.5.1', 'TLS is already active')],
  [/Too many connected clients/, r(421, '4.7.0', 'Too many connections to this gateway; try again in a moment')],
];

/** Our wording for one of smtp-server's own replies, or undefined to leave it as it is. */
export function rewriteBuiltin(code: number, text: string): SmtpReply | undefined {
  for (const [re, reply] of BUILTIN) if (re.test(text) && Math.floor(reply.code / 100) === Math.floor(code / 100)) return reply;
  return undefined;
}
