// Owns the outbound escaping of message data for SMTP (RFC 5321 4.5.2), as nodemailer's DataStream does it and
// with the same output byte for byte: a dot that starts a line is doubled, and bare CR and bare LF become CRLF
// (a dot after a bare CR is stuffed too, so no receiver can read "\r.\r" as the end of data: SMTP smuggling).
// nodemailer looks at every byte in JavaScript; this looks only at line breaks, found with indexOf.
const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const INSERT_LF = Buffer.from('\n');
const INSERT_LF_DOT = Buffer.from('\n.');
const INSERT_CR = Buffer.from('\r');
const INSERT_DOT = Buffer.from('.');

/**
 * One chunk escaped. `lastByte` is the last byte of the previous chunk, or false at the start of the data.
 * Returns the chunk itself when nothing needs escaping.
 */
export function stuffChunk(chunk: Buffer, lastByte: number | false): Buffer {
  const len = chunk.length;
  const parts: Buffer[] = [];
  let from = 0;
  const insertAt = (at: number, what: Buffer): void => {
    if (at > from) parts.push(chunk.subarray(from, at));
    parts.push(what);
    from = at;
  };
  // the first byte, against the end of the previous chunk (a CR or LF at 0 is handled with the others below)
  const first = chunk[0];
  if (lastByte === CR && first !== LF) insertAt(0, first === DOT ? INSERT_LF_DOT : INSERT_LF);
  else if (first === DOT && (lastByte === LF || lastByte === false)) insertAt(0, INSERT_DOT);
  let cr = chunk.indexOf(CR);
  let lf = chunk.indexOf(LF);
  while (cr !== -1 || lf !== -1) {
    if (lf === -1 || (cr !== -1 && cr < lf)) {
      // a CR not followed by LF gets one (a CR at the chunk's end is decided with the next chunk)
      const next = cr + 1 < len ? chunk[cr + 1] : undefined;
      if (next !== undefined && next !== LF) insertAt(cr + 1, next === DOT ? INSERT_LF_DOT : INSERT_LF);
      cr = chunk.indexOf(CR, cr + 1);
    } else {
      const prev = lf > 0 ? chunk[lf - 1] : lastByte;
      if (prev !== CR) insertAt(lf, INSERT_CR);
      if (lf + 1 < len && chunk[lf + 1] === DOT) insertAt(lf + 1, INSERT_DOT);
      lf = chunk.indexOf(LF, lf + 1);
    }
  }
  if (!parts.length) return chunk;
  if (from < len) parts.push(chunk.subarray(from));
  return Buffer.concat(parts);
}
