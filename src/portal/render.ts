// Owns turning a stored message into what the portal shows: sender, date, subject, the text, the HTML made safe
// (no script, no active or remote content, no styles that could load anything, links that carry no referrer), and
// the list of attachments with their bytes for download. Images survive only as data: URLs (inline cid: images
// are turned into those by the parser); every other image source is dropped.
import { simpleParser, type AddressObject, type Attachment } from 'mailparser';
import sanitizeHtml from 'sanitize-html';

export interface AttachmentInfo {
  /** index for /attachment/:n */
  n: number;
  filename: string;
  contentType: string;
  size: number;
}

export interface RenderedMessage {
  from: string;
  /** the sender's bare address, for replies */
  fromAddress: string | null;
  to: string;
  date: Date | null;
  subject: string;
  messageId: string | null;
  text: string;
  /** sanitised HTML, or null when the message has none */
  html: string | null;
  attachments: AttachmentInfo[];
}

const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: [
    'a', 'abbr', 'address', 'b', 'blockquote', 'br', 'caption', 'cite', 'code', 'col', 'colgroup', 'dd', 'del', 'div', 'dl', 'dt',
    'em', 'font', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'ins', 'kbd', 'li', 'mark', 'ol', 'p', 'pre', 'q', 's',
    'small', 'span', 'strike', 'strong', 'sub', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr', 'u', 'ul',
  ],
  // no style, class or id: styles may load URLs and the page's CSP forbids inline styles anyway
  allowedAttributes: {
    a: ['href', 'title', 'rel', 'target'],
    img: ['src', 'alt', 'title', 'width', 'height'],
    td: ['colspan', 'rowspan', 'align', 'valign'],
    th: ['colspan', 'rowspan', 'align', 'valign', 'scope'],
    col: ['span'], colgroup: ['span'], ol: ['start', 'type'], table: ['summary'],
    abbr: ['title'], q: ['cite'], blockquote: ['cite'],
  },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['data'] },
  allowedSchemesAppliedToAttributes: ['href', 'src', 'cite'],
  allowProtocolRelative: false,
  allowedStyles: {},
  // dropped with their content (sanitize-html's default list, plus the active and embedding tags)
  nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'title', 'head', 'iframe', 'object', 'embed', 'svg', 'math', 'template', 'xmp', 'noembed', 'noframes', 'select', 'button'],
  exclusiveFilter: (frame) => frame.tag === 'img' && !/^data:image\/(png|gif|jpe?g|webp|bmp);/i.test(frame.attribs['src'] ?? ''),
  transformTags: {
    a: (tagName, attribs) => ({ tagName, attribs: { ...attribs, rel: 'noopener noreferrer', target: '_blank' } }),
  },
};

/** Safe HTML for display inside the portal page. */
export function sanitizeMessageHtml(html: string): string {
  return sanitizeHtml(html, SANITIZE);
}

function addressText(a: AddressObject | AddressObject[] | undefined): string {
  if (!a) return '';
  const one = (v: { name: string; address?: string }) => (v.name && v.address ? `${v.name} <${v.address}>` : v.address || v.name);
  return (Array.isArray(a) ? a : [a]).flatMap((x) => x.value.map(one)).filter(Boolean).join(', ');
}

function firstAddress(a: AddressObject | undefined): string | null {
  const v = a?.value.find((x) => x.address);
  return v?.address ?? null;
}

function listed(atts: Attachment[]): AttachmentInfo[] {
  return atts.flatMap((a, n) => (a.related && a.contentDisposition !== 'attachment' ? [] : [{
    n, filename: a.filename ?? `attachment-${n + 1}`, contentType: a.contentType || 'application/octet-stream', size: a.size,
  }]));
}

export async function renderMessage(bytes: Buffer): Promise<RenderedMessage> {
  const m = await simpleParser(bytes, { maxHtmlLengthToParse: 5_000_000 });
  return {
    from: addressText(m.from),
    fromAddress: firstAddress(m.from),
    to: addressText(m.to),
    date: m.date ?? null,
    subject: m.subject ?? '',
    messageId: m.messageId ?? null,
    text: m.text ?? '',
    html: typeof m.html === 'string' && m.html.trim() ? sanitizeMessageHtml(m.html) : null,
    attachments: listed(m.attachments),
  };
}

/** Attachment n as listed by renderMessage, with its decoded bytes. */
export async function attachmentOf(bytes: Buffer, n: number): Promise<(AttachmentInfo & { content: Buffer }) | undefined> {
  const m = await simpleParser(bytes, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, keepCidLinks: true });
  const info = listed(m.attachments).find((a) => a.n === n);
  return info ? { ...info, content: m.attachments[n]!.content } : undefined;
}

/** A Content-Disposition for a download: an ASCII fallback and the RFC 5987 UTF-8 name. */
export function contentDisposition(filename: string): string {
  const clean = filename.replace(/[\u0000-\u001f\u007f/\\]/g, '_').slice(0, 200) || 'attachment';
  const ascii = clean.replace(/[^\x20-\x7e]/g, '_').replace(/["%]/g, '_');
  const utf8 = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}
