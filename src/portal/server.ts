// Owns the portal's HTTPS server (fastify): the recipient opens the link, asks for a one-time code, enters it (and
// the passphrase when the sender set one), then reads the message, downloads attachments and replies. Every
// response carries strict security headers; every form a CSRF token bound to a cookie and to the message; sessions
// live in memory, bound to one message, with HttpOnly/Secure/SameSite=Strict cookies. Events go to the injected
// audit; the operational log carries portal ids and outcomes only, never addresses, codes or content.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import cookie from '@fastify/cookie';
import type { Store } from '../store.js';
import type { Logger } from '../log.js';
import { CODE_DEFAULTS, isLocked, newCode } from './codes.js';
import { expireIfDue, findByToken, readPortalContent, stateOf, storeCode, verifyCode, type PortalRecord } from './store.js';
import { attachmentOf, contentDisposition, renderMessage } from './render.js';
import { portalTemplates, PORTAL_CSS, type PageName } from './templates.js';
import { RateLimiter, type Limit } from './rate-limit.js';

export type PortalEventName =
  | 'portal-opened' | 'portal-code-sent' | 'portal-code-failed' | 'portal-locked' | 'portal-attachment'
  | 'portal-replied' | 'portal-reply-failed' | 'portal-expired-view' | 'portal-expired' | 'portal-rate-limited';

export interface PortalEvent {
  event: PortalEventName;
  portalId: string;
  recipient: string;
  details: Record<string, unknown>;
}

export interface PortalLimits {
  /** every request from one IP */
  ipRequests: Limit;
  /** code requests and code tries from one IP */
  ipCodes: Limit;
  /** codes sent for one message */
  messageCodes: Limit;
  /** code tries on one message (the lockout after maxAttempts failures comes first) */
  messageVerifies: Limit;
  /** replies from one message */
  messageReplies: Limit;
}

export const PORTAL_LIMITS: PortalLimits = {
  ipRequests: { limit: 300, windowMs: 60_000 },
  ipCodes: { limit: 30, windowMs: 15 * 60_000 },
  messageCodes: { limit: 3, windowMs: 15 * 60_000 },
  messageVerifies: { limit: 10, windowMs: 15 * 60_000 },
  messageReplies: { limit: 10, windowMs: 60 * 60_000 },
};

export interface PortalDeps {
  store: Store;
  listen: { host: string; port: number };
  tls: { key: Buffer | string; cert: Buffer | string };
  /** the public base URL (https://host[:port]); a POST whose Origin is neither this nor the Host it came to is refused */
  baseUrl: string;
  now(): number;
  log: Logger;
  audit(e: PortalEvent): void;
  sendCode(recipient: string, code: string, portalId: string): Promise<void>;
  submitReply(from: string, to: string, subject: string, text: string, inReplyTo: string | null): Promise<void>;
  codeLifetimeMs: number;
  maxAttempts: number;
  lockMs: number;
  /** 6 to 8; default 6 */
  codeDigits?: number;
  /** default 30 minutes */
  sessionMs?: number;
  limits?: Partial<PortalLimits>;
  /** for the times shown on pages (lock end, message date); default UTC */
  timeZone?: string;
  /** longest reply in characters; default 20,000 */
  maxReplyChars?: number;
}

export interface RunningPortal {
  port: number;
  close(): Promise<void>;
}

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), interest-cohort=()',
};

export const SESSION_COOKIE = '__Host-portal-session';
export const CSRF_COOKIE = '__Host-portal-csrf';

/** The link a notification carries. */
export function portalUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/m/${token}`;
}

/** p***@example.org: enough for the recipient to recognise, not enough to learn the address. */
export function maskAddress(a: string): string {
  const at = a.lastIndexOf('@');
  if (at < 1) return '***';
  return `${a[0]}***${a.slice(at)}`;
}

function sizeText(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

interface Session { portalId: string; expiresAt: number }

type Body = Record<string, string | undefined>;
type Req = FastifyRequest<{ Params: { token: string; n?: string }; Body: Body | undefined; Querystring: Record<string, string | undefined> }>;

const COOKIE_BASE = { httpOnly: true, secure: true, sameSite: 'strict' as const, path: '/' };

export async function startPortal(deps: PortalDeps): Promise<RunningPortal> {
  const limits = { ...PORTAL_LIMITS, ...deps.limits };
  const limiters = {
    ipRequests: new RateLimiter(limits.ipRequests),
    ipCodes: new RateLimiter(limits.ipCodes),
    messageCodes: new RateLimiter(limits.messageCodes),
    messageVerifies: new RateLimiter(limits.messageVerifies),
    messageReplies: new RateLimiter(limits.messageReplies),
  };
  const sessionMs = deps.sessionMs ?? 30 * 60_000;
  const maxReply = deps.maxReplyChars ?? 20_000;
  const digits = deps.codeDigits ?? CODE_DEFAULTS.digits;
  const csrfKey = randomBytes(32);
  const sessions = new Map<string, Session>();
  const pages = portalTemplates();
  const baseOrigin = new URL(deps.baseUrl).origin;
  const timeFmt = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: deps.timeZone ?? 'UTC', timeZoneName: 'short' });
  const dateFmt = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone: deps.timeZone ?? 'UTC' });
  const audit = (event: PortalEventName, r: PortalRecord, details: Record<string, unknown> = {}) => {
    deps.audit({ event, portalId: r.id, recipient: r.recipient, details });
    deps.log.info({ portalId: r.id, event }, 'portal');
  };

  const app = Fastify({
    https: { key: deps.tls.key, cert: deps.tls.cert, minVersion: 'TLSv1.2' },
    logger: false,
    bodyLimit: 256 * 1024,
    trustProxy: false,
    return503OnClosing: true,
  });
  await app.register(cookie);
  await app.register(formbody);

  const page = (reply: FastifyReply, status: number, name: PageName, data: object) =>
    reply.code(status).type('text/html; charset=utf-8').send(pages.render(name, data));
  const notice = (reply: FastifyReply, status: number, heading: string, paragraphs: string[], back: string | null = null) =>
    page(reply, status, 'notice', { heading, paragraphs, back });
  const tooMany = (reply: FastifyReply, limiter: RateLimiter, key: string) => {
    reply.header('retry-after', String(Math.ceil(limiter.retryAfterMs(key, deps.now()) / 1000)));
    return notice(reply, 429, 'Please wait a moment', ['There were too many requests. Wait a few minutes, then try again.']);
  };

  // -- CSRF: a random cookie, and in each form an HMAC of it bound to the message
  const csrfToken = (cookieValue: string, portalId: string) => createHmac('sha256', csrfKey).update(`${cookieValue}\n${portalId}`).digest('base64url');
  const csrfFor = (req: Req, reply: FastifyReply, portalId: string): string => {
    let c = req.cookies[CSRF_COOKIE];
    if (!c || !/^[A-Za-z0-9_-]{43}$/.test(c)) {
      c = randomBytes(32).toString('base64url');
      reply.setCookie(CSRF_COOKIE, c, COOKIE_BASE);
    }
    return csrfToken(c, portalId);
  };
  const csrfOk = (req: Req, portalId: string): boolean => {
    const origin = req.headers.origin;
    // Browsers send `Origin: null` on a form POST from a page whose Referrer-Policy is no-referrer (ours is), so
    // "null" passes only when Sec-Fetch-Site, where the browser sends it, says the form came from this origin.
    const fetchSite = req.headers['sec-fetch-site'];
    if (origin === 'null') { if (fetchSite !== undefined && fetchSite !== 'same-origin') return false; }
    else if (origin !== undefined && origin !== baseOrigin && origin !== `https://${req.headers.host ?? ''}`) return false;
    const c = req.cookies[CSRF_COOKIE];
    const sent = req.body?.['csrf'];
    if (!c || typeof sent !== 'string') return false;
    const want = Buffer.from(csrfToken(c, portalId));
    const got = Buffer.from(sent);
    return want.length === got.length && timingSafeEqual(want, got);
  };

  // -- sessions
  const sessionOf = (req: Req, r: PortalRecord): boolean => {
    const sid = req.cookies[SESSION_COOKIE];
    if (!sid) return false;
    const s = sessions.get(sid);
    if (!s) return false;
    if (s.expiresAt <= deps.now()) { sessions.delete(sid); return false; }
    return s.portalId === r.id;
  };
  const newSession = (reply: FastifyReply, r: PortalRecord) => {
    const now = deps.now();
    if (sessions.size > 10_000) for (const [k, s] of sessions) if (s.expiresAt <= now) sessions.delete(k);
    const sid = randomBytes(32).toString('base64url');
    sessions.set(sid, { portalId: r.id, expiresAt: now + sessionMs });
    reply.setCookie(SESSION_COOKIE, sid, { ...COOKIE_BASE, maxAge: Math.floor(sessionMs / 1000) });
  };

  /** The record behind the link when it is active; otherwise the reply is sent (not found, withdrawn, expired). */
  const load = async (req: Req, reply: FastifyReply): Promise<PortalRecord | null> => {
    const r = findByToken(deps.store, req.params.token);
    if (!r) {
      notice(reply, 404, 'This link does not work', ['Check that you opened the whole link from the email. If it still does not work, ask the sender to send the message again.']);
      return null;
    }
    const now = deps.now();
    const state = stateOf(r, now);
    if (state === 'active') return r;
    if (state === 'expired' && (await expireIfDue(deps.store, r.id, now))) audit('portal-expired', r, { expiresAt: new Date(r.expiresAt).toISOString() });
    audit('portal-expired-view', r, { state });
    if (state === 'revoked') notice(reply, 410, 'This message was withdrawn', ['The sender withdrew this message, so it can no longer be read here. Contact the sender if you still need it.']);
    else notice(reply, 410, 'This message has expired', ['Messages are kept for a limited time and this one has been deleted. Contact the sender if you still need it.']);
    return null;
  };
  const lockedPage = (reply: FastifyReply, until: number) =>
    notice(reply, 423, 'This message is locked for now', [
      'Too many wrong codes were entered, so we locked this message to protect it.',
      `You can try again at ${timeFmt.format(new Date(until))}.`,
    ]);
  const verifyPage = (req: Req, reply: FastifyReply, r: PortalRecord, status: number, extra: { sent?: boolean; error?: string }) =>
    page(reply, status, 'verify', {
      token: req.params.token, csrf: csrfFor(req, reply, r.id), maskedRecipient: maskAddress(r.recipient),
      needsPassphrase: r.passphrase !== null, lifetimeMinutes: Math.round(deps.codeLifetimeMs / 60_000), sent: false, error: null, ...extra,
    });

  app.addHook('onRequest', async (req, reply) => {
    reply.headers(SECURITY_HEADERS);
    if (!limiters.ipRequests.hit(req.ip, deps.now())) return tooMany(reply, limiters.ipRequests, req.ip);
  });

  app.setNotFoundHandler((_req, reply) => notice(reply, 404, 'Page not found', ['Open the link from your email again.']));
  app.setErrorHandler((err: { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    deps.log.warn({ status, code: err.code ?? null, route: req.routeOptions.url ?? null }, 'portal request failed');
    return notice(reply, status, status === 500 ? 'Something went wrong' : 'This request could not be handled', ['Please try again in a few minutes.']);
  });

  // browsers ask for a favicon on every page; an empty answer spares them a 404 (a console error) and us a page render
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
  app.get('/static/portal.css', async (_req, reply) => reply.type('text/css; charset=utf-8').send(PORTAL_CSS));

  app.get('/m/:token', async (req: Req, reply) => {
    const r = await load(req, reply);
    if (!r) return reply;
    if (isLocked(r, deps.now())) return lockedPage(reply, r.lockedUntil!);
    return page(reply, 200, 'landing', { token: req.params.token, csrf: csrfFor(req, reply, r.id), maskedRecipient: maskAddress(r.recipient), error: null });
  });

  app.get('/m/:token/verify', async (req: Req, reply) => {
    const r = await load(req, reply);
    if (!r) return reply;
    if (isLocked(r, deps.now())) return lockedPage(reply, r.lockedUntil!);
    return verifyPage(req, reply, r, 200, {});
  });

  /**
   * The checks before a code is sent or tried: the form's CSRF token, the lock, the per-IP and per-message rate
   * limits. True when one of them refused the request (the answer is already sent).
   */
  function refuseForm(req: Req, reply: FastifyReply, r: PortalRecord, now: number, perMessage: RateLimiter, what: 'code' | 'verify'): boolean {
    if (!csrfOk(req, r.id)) { notice(reply, 403, 'Please start again', ['This form has expired. Open the link from your email again.']); return true; }
    if (isLocked(r, now)) { lockedPage(reply, r.lockedUntil!); return true; }
    if (!limiters.ipCodes.hit(req.ip, now)) { tooMany(reply, limiters.ipCodes, req.ip); return true; }
    if (!perMessage.hit(r.id, now)) {
      audit('portal-rate-limited', r, { what });
      tooMany(reply, perMessage, r.id);
      return true;
    }
    return false;
  }

  app.post('/m/:token/code', async (req: Req, reply) => {
    const r = await load(req, reply);
    if (!r) return reply;
    const now = deps.now();
    if (refuseForm(req, reply, r, now, limiters.messageCodes, 'code')) return reply;
    const { code, stored } = newCode(now, { digits, lifetimeMs: deps.codeLifetimeMs });
    await storeCode(deps.store, r.id, stored);
    try {
      await deps.sendCode(r.recipient, code, r.id);
    } catch (e) {
      deps.log.warn({ portalId: r.id, err: (e as Error).name }, 'portal code not sent');
      return notice(reply, 503, 'We could not send a code', ['Please try again in a few minutes.'], `/m/${req.params.token}`);
    }
    audit('portal-code-sent', r, { expiresAt: new Date(stored.expiresAt).toISOString() });
    return verifyPage(req, reply, r, 200, { sent: true });
  });

  app.post('/m/:token/verify', async (req: Req, reply) => {
    const r = await load(req, reply);
    if (!r) return reply;
    const now = deps.now();
    if (refuseForm(req, reply, r, now, limiters.messageVerifies, 'verify')) return reply;
    const code = String(req.body?.['code'] ?? '').replace(/\s+/g, '').slice(0, 12);
    const pass = req.body?.['passphrase'];
    const out = await verifyCode(deps.store, r.id, code, typeof pass === 'string' ? pass : undefined, now, { maxAttempts: deps.maxAttempts, lockMs: deps.lockMs });
    if (!out) return notice(reply, 404, 'This link does not work', []);
    if (out.ok) {
      audit('portal-opened', r, { opened: r.opened + 1 });
      newSession(reply, r);
      return reply.code(303).header('location', `/m/${req.params.token}/view`).send();
    }
    if (out.reason === 'locked') return lockedPage(reply, out.lockedUntil);
    if (out.reason === 'wrong') {
      audit('portal-code-failed', r, { reason: 'wrong', attempts: out.attempts, passphrase: r.passphrase !== null });
      if (out.locked) {
        audit('portal-locked', r, { until: new Date(out.lockedUntil!).toISOString(), attempts: out.attempts });
        return lockedPage(reply, out.lockedUntil!);
      }
      const left = deps.maxAttempts - out.attempts;
      const what = r.passphrase ? 'The code or the passphrase is not right.' : 'That code is not right.';
      return verifyPage(req, reply, r, 400, { error: `${what} You can try ${left} more time${left === 1 ? '' : 's'}.` });
    }
    audit('portal-code-failed', r, { reason: out.reason });
    const why = out.reason === 'expired' ? 'That code has expired.' : out.reason === 'used' ? 'That code was already used.' : 'No code was sent yet.';
    return verifyPage(req, reply, r, 400, { error: `${why} Ask for a new code below.` });
  });

  app.get('/m/:token/view', async (req: Req, reply) => {
    const r = await load(req, reply);
    if (!r) return reply;
    if (!sessionOf(req, r)) return reply.code(303).header('location', `/m/${req.params.token}`).send();
    const bytes = readPortalContent(deps.store, r.id, deps.now());
    if (!bytes) return notice(reply, 410, 'This message is no longer available', ['Contact the sender if you still need it.']);
    const msg = await renderMessage(bytes);
    return page(reply, 200, 'view', {
      token: req.params.token, csrf: csrfFor(req, reply, r.id), replied: req.query['replied'] === '1', error: null, maxReply,
      date: msg.date ? dateFmt.format(msg.date) : '', msg: { ...msg, attachments: msg.attachments.map((a) => ({ ...a, sizeText: sizeText(a.size) })) },
    });
  });

  app.get('/m/:token/attachment/:n', async (req: Req, reply) => {
    const r = await load(req, reply);
    if (!r) return reply;
    if (!sessionOf(req, r)) return reply.code(303).header('location', `/m/${req.params.token}`).send();
    const n = /^\d{1,4}$/.test(req.params.n ?? '') ? Number(req.params.n) : -1;
    const bytes = readPortalContent(deps.store, r.id, deps.now());
    const a = bytes && n >= 0 ? await attachmentOf(bytes, n) : undefined;
    if (!a) return notice(reply, 404, 'Attachment not found', [], `/m/${req.params.token}/view`);
    audit('portal-attachment', r, { n, size: a.size });
    const type = /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/i.test(a.contentType) ? a.contentType : 'application/octet-stream';
    return reply.code(200).type(type).header('content-disposition', contentDisposition(a.filename)).send(a.content);
  });

  app.post('/m/:token/reply', async (req: Req, reply) => {
    const r = await load(req, reply);
    if (!r) return reply;
    if (!sessionOf(req, r)) return reply.code(303).header('location', `/m/${req.params.token}`).send();
    if (!csrfOk(req, r.id)) return notice(reply, 403, 'Please start again', ['This form has expired. Go back to the message and try again.'], `/m/${req.params.token}/view`);
    const now = deps.now();
    if (!limiters.messageReplies.hit(r.id, now)) {
      audit('portal-rate-limited', r, { what: 'reply' });
      return tooMany(reply, limiters.messageReplies, r.id);
    }
    const text = String(req.body?.['text'] ?? '').replace(/\r\n?/g, '\n');
    const bytes = readPortalContent(deps.store, r.id, now);
    if (!bytes) return notice(reply, 410, 'This message is no longer available', []);
    if (!text.trim() || text.length > maxReply) {
      return notice(reply, 400, 'Your reply was not sent', [text.trim() ? `A reply can be at most ${maxReply} characters.` : 'The reply was empty.'], `/m/${req.params.token}/view`);
    }
    const msg = await renderMessage(bytes);
    const subject = /^re:/i.test(msg.subject) ? msg.subject : `Re: ${msg.subject}`.trim();
    try {
      await deps.submitReply(r.recipient, r.sender, subject, text, msg.messageId ?? r.messageId);
    } catch (e) {
      audit('portal-reply-failed', r, {});
      deps.log.warn({ portalId: r.id, err: (e as Error).name }, 'portal reply not accepted');
      return notice(reply, 503, 'Your reply was not sent', ['Please try again in a few minutes.'], `/m/${req.params.token}/view`);
    }
    audit('portal-replied', r, { chars: text.length });
    return reply.code(303).header('location', `/m/${req.params.token}/view?replied=1`).send();
  });

  app.post('/m/:token/logout', async (req: Req, reply) => {
    const r = findByToken(deps.store, req.params.token);
    if (r && csrfOk(req, r.id)) {
      const sid = req.cookies[SESSION_COOKIE];
      if (sid) sessions.delete(sid);
      reply.clearCookie(SESSION_COOKIE, COOKIE_BASE);
    }
    return notice(reply, 200, 'You are signed out', ['You can close this tab.']);
  });

  await app.listen({ host: deps.listen.host, port: deps.listen.port });
  const port = (app.server.address() as AddressInfo).port;
  return {
    port,
    close: async () => { sessions.clear(); await app.close(); },
  };
}
