// Owns the cheap check that a file is an RFC 5322 message at all: a header block of "Name: value" lines.
// Returns why not, or null.

export function looksLikeMessage(raw: Buffer): string | null {
  if (raw.length === 0) return 'the file is empty';
  const head = raw.subarray(0, 64 * 1024).toString('latin1');
  if (head.includes('\u0000')) return 'it is binary';
  const end = head.search(/\r?\n\r?\n/);
  const block = end >= 0 ? head.slice(0, end) : head;
  const lines = block.split(/\r?\n/).filter((l) => !/^[ \t]/.test(l));
  if (!lines.length || !lines.every((l) => /^[\x21-\x39\x3b-\x7e]+:/.test(l))) return 'it does not start with a header block';
  const names = new Set(lines.map((l) => l.slice(0, l.indexOf(':')).toLowerCase()));
  if (!['from', 'to', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'received'].some((n) => names.has(n))) return 'no message headers (From, To, Subject, Date...) found';
  return null;
}
