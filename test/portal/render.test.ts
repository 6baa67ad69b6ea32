// Rendering a stored message for the portal: the sanitiser's rules one by one, addresses, attachments by index,
// and download names.
import test from 'ava';
import { sanitizeMessageHtml, renderMessage, attachmentOf, contentDisposition } from '../../src/portal/render.js';
import { sampleMessage, ATTACHMENT } from './kit.js';

test('sanitiser: script, handlers, remote and cid images, frames, forms, styles and javascript: links go', (t) => {
  const png = 'data:image/png;base64,iVBORw0KGgo=';
  const out = sanitizeMessageHtml([
    '<p onclick="x()">hi<script>alert(1)</script></p>',
    '<img src="http://t.example/a.gif" alt="remote"><img src="//t.example/b.gif"><img src="cid:logo@x"><img srcset="http://t.example/c.gif 2x">',
    `<img src="${png}" alt="inline">`,
    '<iframe src="https://e.example"></iframe><object data="https://e.example/x"></object><embed src="https://e.example/y">',
    '<form action="https://e.example"><input name="q"><button>go</button></form>',
    '<div style="background:url(http://t.example/s.png)">s</div><style>@import url(http://t.example/x.css);</style>',
    '<a href="javascript:alert(1)">j</a><a href="https://ok.example/p" rel="opener" target="_self">ok</a>',
    '<svg><image href="http://t.example/svg.png"/></svg><link rel="stylesheet" href="http://t.example/l.css"><meta http-equiv="refresh" content="0;url=http://t.example">',
    '<table background="http://t.example/bg.png"><tr><td>cell</td></tr></table>',
  ].join(''));
  for (const bad of ['<script', 'alert', 'onclick', 't.example', 'cid:', 'e.example', '<iframe', '<object', '<embed', '<form', '<input', 'style', 'javascript:', '<svg', '<link', '<meta', 'background=', 'rel="opener"']) {
    t.false(out.includes(bad), `no ${bad} in ${out}`);
  }
  t.true(out.includes(`<img src="${png}" alt="inline" />`), 'a data: image stays');
  t.true(out.includes('<a href="https://ok.example/p" rel="noopener noreferrer" target="_blank">ok</a>'));
  t.true(out.includes('<td>cell</td>'));
  t.true(out.includes('<p>hi</p>'));
});

test('renderMessage: facts, text, sanitised html, attachments; attachmentOf returns the exact bytes', async (t) => {
  const bytes = sampleMessage('M-1');
  const r = await renderMessage(bytes);
  t.is(r.from, 'Dr Smith <dr.smith@clinic.example>');
  t.is(r.fromAddress, 'dr.smith@clinic.example');
  t.is(r.to, 'Pat Patient <pat@example.org>');
  t.is(r.subject, 'Your lab results');
  t.is(r.messageId, '<orig-123@clinic.example>');
  t.is(r.date?.toISOString(), '2026-01-15T08:30:00.000Z');
  t.regex(r.text, /Dear patient, M-1 text part\./);
  t.regex(r.html!, /<b>M-1<\/b>/);
  t.false(r.html!.includes('script'));
  t.deepEqual(r.attachments, [{ n: 0, filename: 'results.pdf', contentType: 'application/pdf', size: ATTACHMENT.length }]);
  const a = await attachmentOf(bytes, 0);
  t.true(a!.content.equals(ATTACHMENT));
  t.is(await attachmentOf(bytes, 1), undefined);
  t.is((await renderMessage(sampleMessage('M-2', { html: false }))).html, null);
});

test('contentDisposition: an ASCII fallback and the UTF-8 name, no header injection', (t) => {
  t.is(contentDisposition('results.pdf'), `attachment; filename="results.pdf"; filename*=UTF-8''results.pdf`);
  t.is(contentDisposition('Résultats "mars".pdf'), `attachment; filename="R_sultats _mars_.pdf"; filename*=UTF-8''R%C3%A9sultats%20%22mars%22.pdf`);
  const evil = contentDisposition('a\r\nSet-Cookie: x=1.pdf');
  t.false(/[\r\n]/.test(evil));
  t.is(contentDisposition(''), `attachment; filename="attachment"; filename*=UTF-8''attachment`);
  t.regex(contentDisposition('../../etc/passwd'), /filename="\.\._\.\._etc_passwd"/);
});
