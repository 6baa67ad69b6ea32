// Owns the portal's pages (eta templates, auto-escaped) and its one stylesheet. No inline script or style: the
// page's CSP forbids both. Titles are the same on every page and never name the sender, subject or recipient.
// Every form carries the CSRF token; every input has a label; the layout reads on a phone without zooming.
import { Eta } from 'eta';

const LAYOUT = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>Secure message</title>
<link rel="stylesheet" href="/static/portal.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="bar"><p class="brand">Secure message portal</p></header>
<main id="main">
<%~ it.body %>
</main>
<footer><p>This page does not use cookies for tracking. Close the browser tab when you are done.</p></footer>
</body>
</html>
`;

const CSRF = `<input type="hidden" name="csrf" value="<%= it.csrf %>">`;

const ERROR = `<% if (it.error) { %><p class="error" role="alert"><%= it.error %></p><% } %>`;

const LANDING = `<% layout('@layout') %>
<h1>You have a secure message</h1>
<p>Someone sent you a message through a secure service. To read it, ask for a one-time code: we will email it to
<strong><%= it.maskedRecipient %></strong>, the address this message was sent to.</p>
${ERROR}
<form method="post" action="/m/<%= it.token %>/code">
${CSRF}
<button type="submit">Email me a code</button>
</form>
<p class="aside"><a href="/m/<%= it.token %>/verify">I already have a code</a></p>
`;

const VERIFY = `<% layout('@layout') %>
<h1>Enter your code</h1>
<% if (it.sent) { %><p role="status">We emailed a code to <strong><%= it.maskedRecipient %></strong>. It works once, for <%= it.lifetimeMinutes %> minutes.</p><% } %>
${ERROR}
<form method="post" action="/m/<%= it.token %>/verify">
${CSRF}
<label for="code">One-time code</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="12" required>
<% if (it.needsPassphrase) { %>
<label for="passphrase">Passphrase</label>
<p class="hint" id="passphrase-hint">The sender gave you this passphrase separately, for example by phone.</p>
<input id="passphrase" name="passphrase" type="password" autocomplete="off" aria-describedby="passphrase-hint" required>
<% } %>
<button type="submit">Open the message</button>
</form>
<form method="post" action="/m/<%= it.token %>/code" class="secondary">
${CSRF}
<button type="submit" class="link">Send me a new code</button>
</form>
`;

const NOTICE = `<% layout('@layout') %>
<h1><%= it.heading %></h1>
<% for (const p of it.paragraphs) { %><p><%= p %></p><% } %>
<% if (it.back) { %><p><a href="<%= it.back %>">Go back</a></p><% } %>
`;

const VIEW = `<% layout('@layout') %>
<h1>Your secure message</h1>
<% if (it.replied) { %><p class="ok" role="status">Your reply was sent.</p><% } %>
<dl class="facts">
<dt>From</dt><dd><%= it.msg.from %></dd>
<dt>Date</dt><dd><%= it.date %></dd>
<dt>Subject</dt><dd><%= it.msg.subject %></dd>
</dl>
<section class="message" aria-label="Message">
<% if (it.msg.html !== null) { %><div class="message-html"><%~ it.msg.html %></div>
<% } else { %><pre class="message-text"><%= it.msg.text %></pre><% } %>
</section>
<% if (it.msg.attachments.length) { %>
<section aria-labelledby="att-h">
<h2 id="att-h">Attachments</h2>
<ul class="attachments">
<% for (const a of it.msg.attachments) { %><li><a href="/m/<%= it.token %>/attachment/<%= a.n %>" download><%= a.filename %></a> <span class="size">(<%= a.sizeText %>)</span></li>
<% } %>
</ul>
</section>
<% } %>
<section aria-labelledby="reply-h">
<h2 id="reply-h">Reply securely</h2>
${ERROR}
<form method="post" action="/m/<%= it.token %>/reply">
${CSRF}
<label for="text">Your reply</label>
<textarea id="text" name="text" rows="8" maxlength="<%= it.maxReply %>" required></textarea>
<button type="submit">Send reply</button>
</form>
</section>
<form method="post" action="/m/<%= it.token %>/logout" class="secondary">
${CSRF}
<button type="submit" class="link">Sign out</button>
</form>
`;

export const PORTAL_CSS = `:root { color-scheme: light; --ink: #1a1a1a; --muted: #4a4a4a; --accent: #0b4f8a; --bad: #a30000; --good: #1d5e20; --line: #c8c8c8; }
* { box-sizing: border-box; }
html { font-size: 100%; -webkit-text-size-adjust: 100%; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 1.0625rem; line-height: 1.55; color: var(--ink); background: #fff; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; }
.bar { background: var(--accent); color: #fff; padding: .75rem 1rem; }
.brand { margin: 0; font-weight: 600; }
main { max-width: 42rem; margin: 0 auto; padding: 1rem; }
footer { max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: var(--muted); font-size: .9rem; }
h1 { font-size: 1.5rem; line-height: 1.25; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
a { color: var(--accent); }
a:focus, button:focus, input:focus, textarea:focus { outline: 3px solid #f0a500; outline-offset: 2px; }
label { display: block; font-weight: 600; margin: 1rem 0 .25rem; }
.hint { margin: 0 0 .25rem; color: var(--muted); font-size: .95rem; }
input[type=text], input[type=password], textarea { width: 100%; font: inherit; padding: .6rem; border: 2px solid #6b6b6b; border-radius: 4px; color: var(--ink); background: #fff; }
input#code { max-width: 12rem; letter-spacing: .2em; font-size: 1.3rem; }
button { display: inline-block; margin-top: 1rem; font: inherit; font-weight: 600; padding: .7rem 1.4rem; border: 0; border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; min-height: 44px; }
button.link { background: none; color: var(--accent); text-decoration: underline; padding: .5rem 0; font-weight: 400; }
form.secondary { margin-top: 1rem; }
.error { color: var(--bad); border-left: 4px solid var(--bad); padding: .5rem .75rem; background: #fff4f4; }
.ok { color: var(--good); border-left: 4px solid var(--good); padding: .5rem .75rem; background: #f2fbf2; }
.aside { margin-top: 1.5rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.message { border: 1px solid var(--line); border-radius: 4px; padding: 1rem; margin-top: 1rem; overflow-x: auto; }
.message-text { white-space: pre-wrap; overflow-wrap: anywhere; font-family: inherit; margin: 0; }
.message-html img { max-width: 100%; height: auto; }
.message-html table { max-width: 100%; }
.attachments { padding-left: 1.2rem; }
.size { color: var(--muted); }
`;

export type PageName = 'landing' | 'verify' | 'notice' | 'view';

export function portalTemplates(): { render(page: PageName, data: object): string } {
  const eta = new Eta({ autoEscape: true, cache: true, useWith: false });
  eta.loadTemplate('@layout', LAYOUT);
  eta.loadTemplate('@landing', LANDING);
  eta.loadTemplate('@verify', VERIFY);
  eta.loadTemplate('@notice', NOTICE);
  eta.loadTemplate('@view', VIEW);
  return { render: (page, data) => eta.render(`@${page}`, data) };
}
