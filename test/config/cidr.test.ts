// Trusted networks: IPv4, IPv6 and IPv4-mapped IPv6 (what a dual-stack socket reports for an IPv4 client),
// written as networks or bare addresses; anything else is refused, and an unparsable client never matches.
import test from 'ava';
import { parseCidrList, addressInList } from '../../src/config/cidr.js';

test('IPv4 networks match their own addresses and nothing else', (t) => {
  const l = parseCidrList(['10.0.0.0/8', '192.168.1.0/24']);
  t.true(addressInList('10.0.0.1', l));
  t.true(addressInList('10.255.255.255', l));
  t.true(addressInList('192.168.1.77', l));
  t.false(addressInList('11.0.0.1', l));
  t.false(addressInList('192.168.2.1', l));
  t.false(addressInList('9.255.255.255', l));
});

test('IPv6 networks match IPv6 addresses, never IPv4 ones', (t) => {
  const l = parseCidrList(['2001:db8::/32', '::1/128']);
  t.true(addressInList('2001:db8::1', l));
  t.true(addressInList('2001:db8:ffff::abcd', l));
  t.true(addressInList('::1', l));
  t.false(addressInList('2001:db9::1', l));
  t.false(addressInList('::2', l));
  t.false(addressInList('127.0.0.1', l), '::1 is not 127.0.0.1');
});

test('an IPv4-mapped IPv6 client address matches IPv4 networks', (t) => {
  const l = parseCidrList(['127.0.0.0/8', '10.0.0.0/8']);
  t.true(addressInList('::ffff:127.0.0.1', l));
  t.true(addressInList('::ffff:10.20.30.40', l));
  t.true(addressInList('::FFFF:10.20.30.40', l));
  t.false(addressInList('::ffff:11.0.0.1', l));
  t.false(addressInList('::ffff:7f00:1', parseCidrList(['10.0.0.0/8'])));
  t.true(addressInList('::ffff:7f00:1', l), 'the hex form of ::ffff:127.0.0.1 too');
});

test('an IPv4-mapped IPv6 network matches IPv4 clients in either form', (t) => {
  const l = parseCidrList(['::ffff:10.0.0.0/104']);
  t.true(addressInList('10.1.2.3', l));
  t.true(addressInList('::ffff:10.1.2.3', l));
  t.false(addressInList('11.1.2.3', l));
});

test('a bare address is a single host', (t) => {
  const l = parseCidrList(['192.0.2.7', '2001:db8::7']);
  t.true(addressInList('192.0.2.7', l));
  t.false(addressInList('192.0.2.8', l));
  t.true(addressInList('2001:db8::7', l));
  t.false(addressInList('2001:db8::8', l));
});

test('0.0.0.0/0 and ::/0 are all of their family', (t) => {
  t.true(addressInList('203.0.113.9', parseCidrList(['0.0.0.0/0'])));
  t.false(addressInList('2001:db8::1', parseCidrList(['0.0.0.0/0'])));
  t.true(addressInList('2001:db8::1', parseCidrList(['::/0'])));
});

test('inet_aton shorthands are refused, not read as some other network', (t) => {
  // ipaddr.js alone reads these as 8.0.0.0/8, 0.0.0.10/8, 127.0.0.1 and 10.0.0.0
  for (const bad of ['010.0.0.0/8', '10/8', '127.1', '0x7f.0.0.1/32', '10.0.0/24', '4294967295/32']) {
    t.throws(() => parseCidrList([bad]), undefined, bad);
  }
  t.notThrows(() => parseCidrList(['10.0.0.0/8', '0.0.0.0/0', '::ffff:10.0.0.0/104', 'fe80::/10']));
});

test('malformed networks throw; malformed client addresses never match', (t) => {
  for (const bad of ['10.0.0.0/33', '2001:db8::/129', '300.1.1.1/8', 'localhost', '10.0.0.0/', '/8', '10.0.0.0/8/8', '', '10.0.0.0/+8']) {
    t.throws(() => parseCidrList([bad]), undefined, bad);
  }
  const l = parseCidrList(['0.0.0.0/0', '::/0']);
  for (const bad of ['', 'unknown', '10.0.0.256', '::ffff:', '1.2.3.4.5']) t.false(addressInList(bad, l), bad);
});
