// Unit tests for RFC 3464 DSNs: the status of a reply, and the structure of the report (checked with our
// splitter and with mailparser, a real MIME parser): three parts in order, per-recipient fields, headers only.
import test from 'ava';
import { simpleParser } from 'mailparser';
import { buildDsn, headerBlockOf, statusOf, type DsnInput } from '../../src/deliver/dsn.js';
import { splitMultipart } from './util.js';

test('statusOf: the enhanced code of the reply, class forced to 5 when permanent', (t) => {
  t.is(statusOf('550 5.1.1 <a@b>: User unknown', true), '5.1.1');
  t.is(statusOf('550-5.7.1 first line 550 5.7.1 last line', true), '5.7.1');
  t.is(statusOf('451 4.3.0 try later', false), '4.3.0');
  t.is(statusOf('451 4.2.2 Mailbox full', true), '5.2.2', 'a 4xx that ends in a bounce is reported as permanent');
  t.is(statusOf('550 no enhanced code here', true), '5.0.0');
  t.is(statusOf('421 closing', false), '4.0.0');
  t.is(statusOf('250 2.0.0 Ok', true), '5.0.0', 'a success code is never a failure status');
  t.is(statusOf('', true), '5.0.0');
});

test('statusOf: an IP address or version number in the text is not an enhanced status code', (t) => {
  t.is(statusOf('554 Your host 10.4.5.6 is on our block list', true), '5.0.0');
  t.is(statusOf('550 rejected by spamfilter 2.5.1.3', true), '5.0.0');
  t.is(statusOf('451 greylisted by 192.0.4.7, retry', false), '4.0.0');
  t.is(statusOf('554 5.7.1 Your host 10.4.5.6 is on our block list', true), '5.7.1', 'the code after the reply code wins');
  t.is(statusOf('5.1.1 user unknown', true), '5.1.1', 'an enhanced code at the start (no basic code) counts too');
});

const input = (over: Partial<DsnInput> = {}): DsnInput => ({
  reportingMta: 'gw.phigate.test',
  queueId: 'QID0000000000000000A',
  originalSender: 'ehr@lab.test',
  arrival: new Date('2026-01-02T03:04:05Z'),
  recipients: [
    { address: 'nobody@example.net', status: '5.1.1', reply: '550 5.1.1 User unknown', remoteMta: 'mx.example.net', lastAttempt: new Date('2026-01-02T03:04:06Z') },
    { address: 'full@example.org', status: '5.2.2', reply: '552 5.2.2 Mailbox\r\nfull', lastAttempt: new Date('2026-01-02T03:04:07Z') },
  ],
  originalHeaders: 'From: <ehr@lab.test>\nTo: <nobody@example.net>\nSubject: Results for J. Doe\n',
  now: new Date('2026-01-02T03:05:00Z'),
  ...over,
});

test('buildDsn: multipart/report with notification, delivery-status and headers-only parts', async (t) => {
  const { bytes, messageId } = buildDsn(input());
  const raw = bytes.toString('utf8');
  t.regex(messageId, /^QID0000000000000000A\.dsn\.[0-9a-f]{8}@gw\.phigate\.test$/);
  t.regex(raw, new RegExp(`^Message-ID: <${messageId.replace(/\./g, '\\.')}>\r$`, 'm'));
  t.regex(raw, /^From: Mail Delivery System <MAILER-DAEMON@gw\.phigate\.test>\r$/m);
  t.regex(raw, /^To: <ehr@lab\.test>\r$/m);
  t.regex(raw, /^Date: Fri, 02 Jan 2026 03:05:00 \+0000\r$/m);
  t.regex(raw, /^Auto-Submitted: auto-replied\r$/m);
  t.false(/(?<!\r)\n/.test(raw), 'CRLF line ends only');
  const mime = splitMultipart(raw);
  t.regex(mime.contentType, /^multipart\/report; report-type=delivery-status; boundary="phigate-dsn-[0-9a-f]{16}"$/);
  t.deepEqual(mime.parts.map((p) => p.contentType), ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
  const ds = mime.parts[1]!.body;
  const [perMessage, ...perRcpt] = ds.split('\r\n\r\n');
  t.is(perMessage, 'Reporting-MTA: dns; gw.phigate.test\r\nX-Phigate-Queue-ID: QID0000000000000000A\r\nArrival-Date: Fri, 02 Jan 2026 03:04:05 +0000');
  t.is(perRcpt.length, 2);
  t.is(perRcpt[0], [
    'Final-Recipient: rfc822; nobody@example.net', 'Action: failed', 'Status: 5.1.1', 'Remote-MTA: dns; mx.example.net',
    'Diagnostic-Code: smtp; 550 5.1.1 User unknown', 'Last-Attempt-Date: Fri, 02 Jan 2026 03:04:06 +0000',
  ].join('\r\n'));
  t.regex(perRcpt[1]!, /^Final-Recipient: rfc822; full@example\.org\r\nAction: failed\r\nStatus: 5\.2\.2\r\nDiagnostic-Code: smtp; 552 5\.2\.2 Mailbox full\r\n/, 'no Remote-MTA when unknown; reply folded to one line');
  t.is(mime.parts[2]!.body, 'From: <ehr@lab.test>\r\nTo: <nobody@example.net>\r\nSubject: Results for J. Doe\r\n', 'original headers, CRLF, nothing else');

  // a real MIME parser sees the same structure
  const parsed = await simpleParser(bytes);
  t.is(parsed.subject, 'Undelivered Mail Returned to Sender');
  t.regex(parsed.text ?? '', /<nobody@example\.net>: 550 5\.1\.1 User unknown/);
  t.regex(parsed.text ?? '', /Queue ID: QID0000000000000000A/);
  // mailparser shows message/delivery-status inline with the text, and the headers part as an attachment
  t.regex(parsed.text ?? '', /Final-Recipient: rfc822; full@example\.org\nAction: failed\nStatus: 5\.2\.2/);
  const headers = parsed.attachments.find((a) => a.contentType === 'text/rfc822-headers');
  t.is(headers?.content.toString(), 'From: <ehr@lab.test>\r\nTo: <nobody@example.net>\r\nSubject: Results for J. Doe\r\n');
});

test('buildDsn: a reply cannot inject header lines or MIME boundaries', (t) => {
  const { bytes } = buildDsn(input({ recipients: [{ address: 'x@example.net', status: '5.0.0', reply: '550 bad\r\nFinal-Recipient: rfc822; forged@evil.test\r\n\r\n--x', lastAttempt: new Date() }] }));
  const ds = splitMultipart(bytes.toString()).parts[1]!.body;
  t.is((ds.match(/^Final-Recipient:/gm) ?? []).length, 1);
});

test('headerBlockOf: up to the first blank line, CRLF or LF', (t) => {
  t.is(headerBlockOf(Buffer.from('A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore')), 'A: 1\r\nB: 2');
  t.is(headerBlockOf(Buffer.from('A: 1\nB: 2\n\nbody')), 'A: 1\nB: 2');
  t.is(headerBlockOf(Buffer.from('A: 1\r\nB: 2')), 'A: 1\r\nB: 2', 'no body at all');
  t.false(headerBlockOf(Buffer.from('Subject: x\r\n\r\nSECRET body')).includes('SECRET'));
});
