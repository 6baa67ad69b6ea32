// Owns queue ids: time-ordered and unguessable (10 chars of milliseconds, 10 of randomness = 50 bits,
// Crockford base32).
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newQueueId(now: number = Date.now()): string {
  let t = now;
  let time = '';
  for (let i = 0; i < 10; i++) { time = ALPHABET[t % 32]! + time; t = Math.floor(t / 32); }
  const rnd = randomBytes(10);
  let tail = '';
  for (let i = 0; i < 10; i++) tail += ALPHABET[rnd[i]! % 32]!;
  return time + tail;
}

export const QUEUE_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{20}$/;
