// Unit tests for the outbound TLS policy predicates: the level per domain, ordering of levels, whether a
// session meets a level, the only case that may fall back to clear text, and the client options per level.
import test from 'ava';
import { clientTlsOptions, mayRetryWithoutTls, meetsLevel, stronger, tlsFailureReason, tlsLevelFor, TLS_RANK } from '../../src/deliver/tls-policy.js';
import type { TlsLevel } from '../../src/config/schema.js';

const LEVELS: TlsLevel[] = ['none', 'may', 'encrypt', 'verify'];

test('tlsLevelFor: exact, closest wildcard, *, and verify when the table says nothing (fail closed)', (t) => {
  const table: Record<string, TlsLevel> = { 'partner.org': 'encrypt', '*.partner.org': 'may', '*.org': 'none', '*': 'verify' };
  t.is(tlsLevelFor('partner.org', table), 'encrypt');
  t.is(tlsLevelFor('Partner.ORG', table), 'encrypt');
  t.is(tlsLevelFor('mx.partner.org', table), 'may');
  t.is(tlsLevelFor('a.b.partner.org', table), 'may');
  t.is(tlsLevelFor('other.org', table), 'none');
  t.is(tlsLevelFor('example.net', table), 'verify');
  t.is(tlsLevelFor('example.net', {}), 'verify');
  t.is(tlsLevelFor('example.net', { 'example.org': 'none' }), 'verify');
  t.is(tlsLevelFor('partner.org', { '*.partner.org': 'none' }), 'verify', 'a wildcard does not cover its parent');
});

test('stronger: the higher of two levels, whichever order', (t) => {
  for (const a of LEVELS) {
    for (const b of LEVELS) {
      const s = stronger(a, b);
      t.is(s, TLS_RANK[a] >= TLS_RANK[b] ? a : b);
      t.is(s, stronger(b, a));
    }
  }
  t.is(stronger('may', 'verify'), 'verify');
  t.is(stronger('encrypt', 'none'), 'encrypt');
});

test('meetsLevel: none and may accept anything; encrypt needs TLS; verify needs verified TLS', (t) => {
  const clear = { protocol: null, verified: false };
  const unverified = { protocol: 'TLSv1.3', verified: false };
  const verified = { protocol: 'TLSv1.3', verified: true };
  t.true(meetsLevel('none', clear));
  t.true(meetsLevel('may', clear));
  t.false(meetsLevel('encrypt', clear));
  t.true(meetsLevel('encrypt', unverified));
  t.false(meetsLevel('verify', unverified));
  t.true(meetsLevel('verify', verified));
  t.false(meetsLevel('verify', { protocol: null, verified: true }), 'a "verified" flag without TLS does not count');
});

test('mayRetryWithoutTls: only a may session whose TLS failed', (t) => {
  t.true(mayRetryWithoutTls('may', 'ETLS'));
  for (const level of ['none', 'encrypt', 'verify'] as const) t.false(mayRetryWithoutTls(level, 'ETLS'), level);
  for (const code of ['ECONNECTION', 'ESOCKET', 'ETIMEDOUT', undefined]) t.false(mayRetryWithoutTls('may', code), String(code));
});

test('clientTlsOptions: what each level asks of nodemailer', (t) => {
  const none = clientTlsOptions('none', 'mx.example.net', null);
  t.true(none.ignoreTLS);
  t.false(none.requireTLS);
  const may = clientTlsOptions('may', 'mx.example.net', null);
  t.false(may.requireTLS);
  t.true(may.opportunisticTLS);
  t.false(may.tls.rejectUnauthorized);
  const enc = clientTlsOptions('encrypt', 'mx.example.net', null);
  t.true(enc.requireTLS);
  t.false(enc.tls.rejectUnauthorized);
  const ver = clientTlsOptions('verify', 'mx.example.net', 'EXTRA-CA-PEM');
  t.true(ver.requireTLS);
  t.false(ver.ignoreTLS);
  t.true(ver.tls.rejectUnauthorized);
  t.is(ver.tls.servername, 'mx.example.net');
  t.true(Array.isArray(ver.tls.ca) && (ver.tls.ca as string[]).includes('EXTRA-CA-PEM') && (ver.tls.ca as string[]).length > 1, 'the extra CA is added to the system roots, not instead of them');
  t.is(clientTlsOptions('verify', 'mx.example.net', null).tls.ca, undefined, 'system roots only');
  for (const level of LEVELS) t.is(clientTlsOptions(level, 'x.test', null).tls.minVersion, 'TLSv1.2', level);
  t.is(clientTlsOptions('verify', '192.0.2.1', null).tls.servername, undefined, 'no SNI for an IP address');
  t.is(clientTlsOptions('verify', '2001:db8::1', null).tls.servername, undefined);
});

test('tlsFailureReason: certificate problems versus no TLS on offer', (t) => {
  t.is(tlsFailureReason('self-signed certificate', undefined), 'tls-verify-failed');
  t.is(tlsFailureReason("Hostname/IP does not match certificate's altnames: Host: a. is not in the cert's altnames: DNS:b", undefined), 'tls-verify-failed');
  t.is(tlsFailureReason('unable to verify the first certificate', undefined), 'tls-verify-failed');
  t.is(tlsFailureReason('certificate has expired', undefined), 'tls-verify-failed');
  t.is(tlsFailureReason('Error upgrading connection with STARTTLS: 502 5.5.1 Unrecognized command', '502 5.5.1 Unrecognized command'), 'tls-unavailable');
});
