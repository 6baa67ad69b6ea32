// Owns queue ids: time-ordered and unguessable (10 chars of milliseconds, 10 of randomness = 50 bits,
// Crockford base32).
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

// Random bytes are drawn 4 KiB at a time: one randomFillSync per 409 ids instead of one per id.
let pool = Buffer.alloc(0);
let poolAt = 0;
function random10(): Buffer {
  if (poolAt + 10 > pool.length) { pool = randomBytes(4096); poolAt = 0; }
  const out = pool.subarray(poolAt, poolAt + 10);
  poolAt += 10;
  return out;
}

export function newQueueId(now: number = Date.now()): string {
  let t = now;
  let time = '';
  for (let i = 0; i < 10; i++) { time = ALPHABET[t % 32]! + time; t = Math.floor(t / 32); }
  const rnd = random10();
  let tail = '';
  for (let i = 0; i < 10; i++) tail += ALPHABET[rnd[i]! % 32]!;
  return time + tail;
}

export const QUEUE_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{20}$/;
