// Owns turning a text body's bytes into a string with CRLF line ends folded to LF. A string replace over a
// large body costs two more full-size copies (the replaced string, then its flattening on first regex use);
// folding the bytes into a reused scratch buffer and decoding once leaves one. The scratch is zeroed after
// each use, so no message bytes stay behind between scans.

/** Bodies up to this size reuse the scratch buffer; larger ones get a buffer of their own. */
const SCRATCH_MAX = 32 * 1024 * 1024;
let scratch: Buffer | null = null;

/** Copies `src` into `out` without the CR of each CRLF; returns the length written. */
function foldInto(src: Buffer, out: Buffer): number {
  // one native copy, then each line moved left over the dropped CRs (copyWithin costs far less per call than
  // Buffer#copy or a subarray per line)
  out.set(src);
  const n = src.length;
  let o = 0;
  let i = 0;
  for (;;) {
    const cr = src.indexOf(13, i);
    const end = cr < 0 || cr + 1 >= n ? n : src[cr + 1] === 10 ? cr : cr + 1; // a lone CR stays
    if (o !== i) out.copyWithin(o, i, end);
    o += end - i;
    if (end === n) return o;
    i = cr + 1;
  }
}

/**
 * The UTF-8 text of `bytes` with every CRLF as LF: the same string as
 * `bytes.toString('utf8').replace(/\r\n/g, '\n')` (a CR or LF byte never sits inside a UTF-8 sequence, so
 * dropping it before decoding changes nothing else), made with one full-size string allocation.
 */
export function utf8WithLf(bytes: Buffer): string {
  if (bytes.indexOf(13) < 0) return bytes.toString('utf8');
  if (bytes.length > SCRATCH_MAX) {
    const own = Buffer.allocUnsafe(bytes.length);
    return own.toString('utf8', 0, foldInto(bytes, own));
  }
  if (!scratch || scratch.length < bytes.length) scratch = Buffer.allocUnsafe(Math.max(bytes.length, 64 * 1024));
  try {
    return scratch.toString('utf8', 0, foldInto(bytes, scratch));
  } finally {
    scratch.fill(0, 0, bytes.length);
  }
}
