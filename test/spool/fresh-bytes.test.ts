// FreshBytes, the in-memory copies of just-accepted messages: handed out once, bounded in bytes, oldest evicted first.
import test from 'ava';
import { FreshBytes } from '../../src/spool/fresh-bytes.js';

const b = (n: number, fill = 0x61) => Buffer.alloc(n, fill);

test('take hands back what keep was given, once', (t) => {
  const f = new FreshBytes(100);
  const x = b(10, 0x78);
  f.keep('q1', x);
  t.is(f.bytes, 10);
  t.is(f.take('q1'), x);
  t.is(f.take('q1'), undefined);
  t.is(f.bytes, 0);
  t.is(f.take('never-kept'), undefined);
});

test('past the bound the oldest go first, and the count stays exact', (t) => {
  const f = new FreshBytes(100);
  f.keep('a', b(40));
  f.keep('b', b(40));
  f.keep('c', b(40)); // 120 > 100: a goes
  t.is(f.bytes, 80);
  t.is(f.take('a'), undefined);
  t.truthy(f.take('b'));
  t.truthy(f.take('c'));
  t.is(f.bytes, 0);
});

test('keeping the same message again replaces it without counting it twice', (t) => {
  const f = new FreshBytes(100);
  f.keep('a', b(60));
  f.keep('a', b(30, 0x7a));
  t.is(f.bytes, 30);
  t.deepEqual(f.take('a'), b(30, 0x7a));
  t.is(f.bytes, 0);
});

test('a message larger than the bound is not kept and evicts nothing', (t) => {
  const f = new FreshBytes(100);
  f.keep('small', b(10));
  f.keep('huge', b(101));
  t.is(f.take('huge'), undefined);
  t.is(f.bytes, 10);
  t.truthy(f.take('small'));
});
