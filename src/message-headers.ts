// Owns reading a message's header block, shared by the stages that look at headers (listener, deliver's DSNs,
// inspect's plain-text fast path): where the block ends (first blank line, CRLF or LF) and its unfolded lines.

/** Where the header block ends: `end` excludes the blank line, `bodyStart` follows it (both = length when none). */
export function headerBlockEnd(buf: Buffer): { end: number; bodyStart: number } {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { end: crlf, bodyStart: crlf + 4 };
  if (lf >= 0) return { end: lf, bodyStart: lf + 2 };
  return { end: buf.length, bodyStart: buf.length };
}

/** Unfolded header lines as [lowercased name, value], in order. */
export function parseHeaderLines(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const raw of text.split(/\r?\n(?![ \t])/)) {
    const i = raw.indexOf(':');
    if (i <= 0) continue;
    out.push([raw.slice(0, i).trim().toLowerCase(), raw.slice(i + 1).replace(/\r?\n[ \t]+/g, ' ').trim()]);
  }
  return out;
}
