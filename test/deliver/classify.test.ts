// Unit tests for the reply classifier: the rule table's order and each rule's outcome and reason.
import test from 'ava';
import { classify, describeFailure, isTlsFailure } from '../../src/deliver/classify.js';

test('5xx bounces, 4xx defers (RFC 5321 4.2.1)', (t) => {
  t.deepEqual(classify({ responseCode: 550, response: '550 5.1.1 User unknown', message: 'Recipient command failed' }), { outcome: 'bounced', reason: 'remote-5xx' });
  t.deepEqual(classify({ responseCode: 554, message: 'x' }), { outcome: 'bounced', reason: 'remote-5xx' });
  t.deepEqual(classify({ responseCode: 599, message: 'x' }), { outcome: 'bounced', reason: 'remote-5xx' });
  t.deepEqual(classify({ responseCode: 451, response: '451 4.3.0 later', message: 'x' }), { outcome: 'deferred', reason: 'remote-4xx' });
  t.deepEqual(classify({ responseCode: 421, message: 'x' }), { outcome: 'deferred', reason: 'remote-4xx' });
  t.deepEqual(classify({ code: 'EENVELOPE', responseCode: 452, message: 'x' }), { outcome: 'deferred', reason: 'remote-4xx' });
});

test('connection problems defer', (t) => {
  for (const code of ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH']) {
    t.deepEqual(classify({ code, message: 'x' }), { outcome: 'deferred', reason: 'connection' }, code);
  }
  t.deepEqual(classify({ code: 'ESOCKET', originalCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.2:25' }), { outcome: 'deferred', reason: 'connection' });
});

test('TLS failures defer as tls-failed, even when the STARTTLS reply was a 5xx (never a bounce, never clear text)', (t) => {
  t.deepEqual(classify({ code: 'ETLS', message: 'Error upgrading connection with STARTTLS', response: '502 5.5.1 Unrecognized command', responseCode: 502 }), { outcome: 'deferred', reason: 'tls-failed' });
  // nodemailer reports a failed handshake or certificate check as ESOCKET, keeping the OpenSSL code aside
  for (const originalCode of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_SSL_WRONG_VERSION_NUMBER']) {
    t.deepEqual(classify({ code: 'ESOCKET', originalCode, message: 'x' }), { outcome: 'deferred', reason: 'tls-failed' }, originalCode);
  }
});

test('isTlsFailure: TLS codes only', (t) => {
  t.true(isTlsFailure({ code: 'ETLS' }));
  t.true(isTlsFailure({ code: 'ESOCKET', originalCode: 'ERR_SSL_NO_PROTOCOLS_AVAILABLE' }));
  t.false(isTlsFailure({ code: 'ESOCKET', originalCode: 'ECONNRESET' }));
  t.false(isTlsFailure({ code: 'ECONNECTION' }));
  t.false(isTlsFailure({}));
});

test('anything unknown is retried rather than lost', (t) => {
  t.deepEqual(classify({ message: 'something odd' }), { outcome: 'deferred', reason: 'unknown' });
  t.deepEqual(classify({ code: 'EPROTOCOL', responseCode: 250, message: 'x' }), { outcome: 'deferred', reason: 'unknown' });
  t.deepEqual(classify({ responseCode: 354, message: 'x' }), { outcome: 'deferred', reason: 'unknown' });
});

test('describeFailure: the remote reply on one line, else the error message', (t) => {
  t.is(describeFailure({ response: '550-5.1.1 first\r\n550 5.1.1 second', message: 'ignored' }), '550-5.1.1 first 550 5.1.1 second');
  t.is(describeFailure({ message: 'connect ECONNREFUSED\n127.0.0.1:25 ' }), 'connect ECONNREFUSED 127.0.0.1:25');
  t.is(describeFailure({ response: '   ', message: 'fallback' }), 'fallback');
});
