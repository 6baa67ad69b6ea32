// Queue ids: 20 characters of Crockford base32, time-ordered by their first ten characters, unguessable in
// their last ten.
import test from 'ava';
import { newQueueId, QUEUE_ID_PATTERN } from '../../src/spool/ids.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const decodeTime = (id: string) => [...id.slice(0, 10)].reduce((n, c) => n * 32 + ALPHABET.indexOf(c), 0);

test('ids match the pattern and carry their time', (t) => {
  for (const now of [0, 1, Date.parse('2026-11-29T10:00:00Z'), 2 ** 48 - 1]) {
    const id = newQueueId(now);
    t.regex(id, QUEUE_ID_PATTERN);
    t.is(decodeTime(id), now);
  }
  t.regex(newQueueId(), QUEUE_ID_PATTERN);
  t.false(QUEUE_ID_PATTERN.test('0123456789ABCDEFGHIL'), 'I and L are not Crockford digits');
  t.false(QUEUE_ID_PATTERN.test('0123456789abcdefghjk'));
});

test('ids sort in time order', (t) => {
  const times = [1, 31, 32, 1000, 999_999, Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-11-29T10:00:00Z'), Date.parse('2099-01-01T00:00:00Z')];
  const ids = times.map((n) => newQueueId(n));
  t.deepEqual([...ids].sort(), ids);
});

test('ids made in the same millisecond are distinct', (t) => {
  const now = Date.now();
  const ids = new Set(Array.from({ length: 20_000 }, () => newQueueId(now)));
  t.is(ids.size, 20_000);
});

test('all ten random characters vary independently', (t) => {
  // Each of the last ten characters should take every value and not repeat another position.
  const ids = Array.from({ length: 4000 }, () => newQueueId(0).slice(10));
  for (let pos = 0; pos < 10; pos++) {
    const seen = new Set(ids.map((x) => x[pos]));
    t.is(seen.size, 32, `position ${pos} takes every symbol`);
    for (let other = 0; other < pos; other++) {
      const same = ids.filter((x) => x[pos] === x[other]).length;
      t.true(same < ids.length / 8, `positions ${other} and ${pos} agree in ${same} of ${ids.length} ids`);
    }
  }
});
